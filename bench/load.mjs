#!/usr/bin/env node
// A bounded load on one OpenAI-compatible server (loopback only): N clients, each streaming R chat
// completions one after another, greedy, with a fixed reply length. Prints one JSON object:
// aggregate generated tokens/s, time to first token (p50, p99) and tokens/s per stream.
// Usage: node bench/load.mjs BASE_URL N R MAX_TOKENS
const [base, n, rounds, maxTokens] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
if (!/^http:\/\/(127\.0\.0\.1|localhost)(:\d+)?$/.test(base)) throw new Error("loopback servers only");

async function stream(client, round) {
    const started = performance.now();
    const response = await fetch(`${base}/v1/chat/completions`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
            messages: [{ role: "user", content: `Client ${client}, round ${round}: write a long story about the sea.` }],
            temperature: 0, max_tokens: maxTokens, stream: true, stream_options: { include_usage: true },
            ignore_eos: true, n_predict: maxTokens // llama.cpp's names, so that both servers generate all the tokens
        })
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${await response.text()}`);
    const decoder = new TextDecoder();
    let buffer = "", first = 0, chunks = 0, usage = null;
    for await (const bytes of response.body) {
        buffer += decoder.decode(bytes, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
            const line = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
            const chunk = JSON.parse(line.slice(6));
            if (chunk.usage) usage = chunk.usage;
            const delta = chunk.choices?.[0]?.delta;
            if (delta && (delta.content || delta.reasoning_content)) {
                if (!first) first = performance.now();
                chunks++;
            }
        }
    }
    const done = performance.now();
    const tokens = usage?.completion_tokens ?? chunks;
    return { ttft: (first - started) / 1000, tokens, seconds: (done - first) / 1000 };
}

const started = performance.now();
const results = (await Promise.all(Array.from({ length: n }, async (_, client) => {
    const mine = [];
    for (let round = 0; round < rounds; round++) mine.push(await stream(client, round));
    return mine;
}))).flat();
const elapsed = (performance.now() - started) / 1000;
const ttfts = results.map((r) => r.ttft).sort((a, b) => a - b);
const pick = (q) => ttfts[Math.min(ttfts.length - 1, Math.floor(q * ttfts.length))];
const tokens = results.reduce((s, r) => s + r.tokens, 0);
console.log(JSON.stringify({
    clients: n, requests: results.length, tokens, seconds: elapsed,
    aggregate_tps: tokens / elapsed,
    ttft_p50: pick(0.5), ttft_p99: pick(0.99),
    stream_tps: results.reduce((s, r) => s + (r.tokens - 1) / r.seconds, 0) / results.length
}));
