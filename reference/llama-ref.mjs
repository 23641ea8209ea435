#!/usr/bin/env node
// The reference side of Fathom's tests: llama.cpp, through node-llama-cpp's prebuilt CPU library.
//
// Reads a JSON array of requests (stdin, or the file named by the first argument) and writes one
// JSON array of results to stdout, one result per request: {"ok":true,...} or {"ok":false,"error":...}.
// A model is loaded once per run and its context reused, so batch the requests of a test class.
//
// Requests ("model" is a GGUF path; "threads" defaults to 2):
//   {"op":"tokenize", "text", "addSpecial"=true, "parseSpecial"=true}     -> {"tokens":[...]}
//   {"op":"detokenize", "tokens", "special"=true}                           -> {"text"}
//   {"op":"logits", "tokens", "positions"}                                 -> {"logits":[base64 float32 LE, ...]}
//       all tokens go through one llama_decode; logits at the given indices (negative: from the end)
//   {"op":"greedy", "tokens", "n"}                                          -> {"tokens":[...]}
//       prompt in one decode, then n greedy steps one token at a time; no penalties, no stop at EOG
//   {"op":"template", "template", "messages", "add_generation_prompt", "bos_token", "eos_token", "extra"} -> {"text"}
//       renders a Jinja chat template with @huggingface/jinja, the engine node-llama-cpp uses
// Context options for logits and greedy: "kvType" ("F16", llama.cpp's default, or "F32"),
// "flashAttention" (false by default), "contextSize", "batchSize" (tokens per llama_decode).
import fs from "node:fs";

const requests = JSON.parse(fs.readFileSync(process.argv[2] ?? 0, "utf8"));

let llama = null;
const models = new Map();
const contexts = new Map();

async function getLlamaOnce() {
    if (llama) return llama;
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
    llama = await getLlama({
        gpu: false,            // the CPU backend only
        build: "never",        // never compile llama.cpp: use the prebuilt binaries or fail
        skipDownload: true,
        usePrebuiltBinaries: true,
        progressLogs: false,
        maxThreads: Math.max(...requests.map((r) => r.threads ?? 2)),
        logLevel: LlamaLogLevel.disabled,
        logger: () => {}
    });
    return llama;
}

async function getModel(path, weights) {
    const cached = models.get(path);
    if (cached && (cached.weights || !weights)) return cached.model;
    if (cached) {
        for (const [key, entry] of contexts) if (entry.model === cached.model) { await entry.context.dispose(); contexts.delete(key); }
        await cached.model.dispose();
    }
    const model = await (await getLlamaOnce()).loadModel({ modelPath: path, gpuLayers: 0, vocabOnly: !weights, useMmap: true });
    models.set(path, { model, weights });
    return model;
}

async function getSequence(model, req, tokensNeeded) {
    const threads = req.threads ?? 2;
    const contextSize = req.contextSize ?? Math.max(512, Math.ceil((tokensNeeded + 1) / 256) * 256);
    const kvType = req.kvType ?? "F16";
    const flashAttention = req.flashAttention ?? false;
    const batchSize = req.batchSize ?? contextSize;
    const key = JSON.stringify([model.filename, contextSize, batchSize, threads, kvType, flashAttention]);
    let entry = contexts.get(key);
    if (!entry) {
        const context = await model.createContext({
            contextSize,
            batchSize, // by default the whole request in one llama_decode
            sequences: 1,
            threads: { ideal: threads, min: threads },
            flashAttention,
            experimentalKvCacheKeyType: kvType,
            experimentalKvCacheValueType: kvType,
            ignoreMemorySafetyChecks: true,
            failedCreationRemedy: false
        });
        entry = { model, context, sequence: context.getSequence() };
        contexts.set(key, entry);
    } else {
        await entry.sequence.clearHistory();
    }
    return entry.sequence;
}

// With temperature 0, node-llama-cpp's sampler chain is llama.cpp's greedy sampler alone, which
// leaves the logits as the model produced them.
const RAW = { temperature: 0 };

function denseLogits(map, vocabulary) {
    const out = new Float32Array(vocabulary);
    for (const [token, value] of map) out[token] = value;
    return Buffer.from(out.buffer).toString("base64");
}

async function handle(req) {
    if (req.op === "template") {
        const { Template } = await import("@huggingface/jinja");
        return {
            text: new Template(req.template).render({
                messages: req.messages ?? [],
                add_generation_prompt: req.add_generation_prompt ?? true,
                bos_token: req.bos_token ?? "",
                eos_token: req.eos_token ?? "",
                ...(req.extra ?? {})
            })
        };
    }
    const weights = req.op === "logits" || req.op === "greedy";
    const model = await getModel(req.model, weights);
    const vocabulary = model.fileInfo.metadata.tokenizer.ggml.tokens.length;
    switch (req.op) {
        case "tokenize": {
            // model.tokenize never adds BOS/EOS; llama_tokenize(add_special=true) adds what the vocabulary asks for.
            let tokens = Array.from(model.tokenize(req.text, req.parseSpecial ?? true));
            if (req.addSpecial ?? true) {
                if (model.tokens.shouldPrependBosToken) tokens = [model.tokens.bos, ...tokens];
                if (model.tokens.shouldAppendEosToken) tokens = [...tokens, model.tokens.eos];
            }
            return { tokens };
        }
        case "detokenize":
            return { text: model.detokenize(req.tokens, req.special ?? true) };
        case "logits": {
            const positions = req.positions.map((p) => (p < 0 ? req.tokens.length + p : p));
            const wanted = new Set(positions);
            const sequence = await getSequence(model, req, req.tokens.length);
            const results = await sequence.controlledEvaluate(
                req.tokens.map((t, i) => (wanted.has(i) ? [t, { generateNext: { logits: true, options: RAW } }] : t)));
            return { logits: positions.map((p) => denseLogits(results[p].next.logits, vocabulary)) };
        }
        case "greedy": {
            const sequence = await getSequence(model, req, req.tokens.length + req.n);
            const next = { generateNext: { token: true, options: RAW } };
            let input = req.tokens.map((t, i) => (i === req.tokens.length - 1 ? [t, next] : t));
            const tokens = [];
            for (let i = 0; i < req.n; i++) {
                const results = await sequence.controlledEvaluate(input);
                const token = results[input.length - 1].next.token;
                tokens.push(token);
                input = [[token, next]];
            }
            return { tokens };
        }
        default:
            throw new Error(`unknown op ${req.op}`);
    }
}

const results = [];
for (const req of requests) {
    try {
        results.push({ ok: true, ...(await handle(req)) });
    } catch (e) {
        results.push({ ok: false, error: String(e?.stack ?? e) });
    }
}
// Exit only once stdout is flushed: a pipe would otherwise truncate large results.
process.stdout.write(JSON.stringify(results) + "\n", () => process.exit(0));
