package dev.fathom.model.testing;

import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.tensor.GgmlType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Synthetic models with the real layout of DeepSeek-R1-Distill-Qwen ({@code qwen2}) and
 * DeepSeek-R1-Distill-Llama ({@code llama}): random weights, tiny widths, but the real vocabularies
 * (151,936 and 128,256 tokens, from the tokenizer packages the reference setup installs), the
 * real special tokens, pre-tokenizers and chat templates. Written once per spec into the
 * repository's {@code target/test-models} and reused by every module's tests.
 */
public final class TestModels {
    /** Which family, in which tensor type, how deep. */
    public record Spec(String architecture, GgmlType type, int layers, long seed) {
        public static Spec qwen2(GgmlType type) {
            return new Spec("qwen2", type, 2, 1);
        }

        public static Spec llama(GgmlType type) {
            return new Spec("llama", type, 2, 2);
        }

        String fileName() {
            return architecture + "-" + type.name().toLowerCase() + "-l" + layers + "-s" + seed + "-v" + VERSION + ".gguf";
        }
    }

    /** Bump when the models' construction changes, so that cached files are rebuilt. */
    static final int VERSION = 2;
    static final int DIM = 256;
    static final int HEADS = 4;
    static final int KV_HEADS = 2;
    static final int HEAD_DIM = DIM / HEADS;
    static final int FFN = 512;

    private TestModels() {
    }

    /** The model file for {@code spec}, written if it does not exist yet. */
    public static synchronized Path get(Spec spec) {
        Path dir = LlamaCpp.referenceDir().getParent().resolve("target/test-models");
        Path file = dir.resolve(spec.fileName());
        if (!Files.exists(file)) {
            try {
                write(spec, file);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return file;
    }

    /** A vocabulary in GGUF form. */
    record Vocabulary(String[] tokens, int[] types, String[] merges, int bos, int eos, String pre,
            String template, int normalTokens) {
    }

    private static void write(Spec spec, Path file) throws IOException {
        boolean qwen = spec.architecture.equals("qwen2");
        Vocabulary v = qwen ? qwenDistillVocabulary() : llamaDistillVocabulary();
        String a = spec.architecture + ".";
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", spec.architecture)
                .putString("general.name", "fathom-test-" + spec.fileName())
                .putUint32(a + "context_length", 4096)
                .putUint32(a + "embedding_length", DIM)
                .putUint32(a + "block_count", spec.layers)
                .putUint32(a + "feed_forward_length", FFN)
                .putUint32(a + "attention.head_count", HEADS)
                .putUint32(a + "attention.head_count_kv", KV_HEADS)
                .putFloat32(a + "attention.layer_norm_rms_epsilon", 1e-6f)
                .putFloat32(a + "rope.freq_base", qwen ? 10000f : 500000f)
                .putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", v.pre)
                .putStrings("tokenizer.ggml.tokens", v.tokens)
                .putInt32s("tokenizer.ggml.token_type", v.types)
                .putStrings("tokenizer.ggml.merges", v.merges)
                .putUint32("tokenizer.ggml.bos_token_id", v.bos)
                .putUint32("tokenizer.ggml.eos_token_id", v.eos)
                .putUint32("tokenizer.ggml.padding_token_id", v.eos)
                .putBool("tokenizer.ggml.add_bos_token", true)
                .putBool("tokenizer.ggml.add_eos_token", false)
                .putString("tokenizer.chat_template", v.template);
        if (!qwen) {
            w.putUint32(a + "rope.dimension_count", HEAD_DIM);
        }
        SplittableRandom random = new SplittableRandom(spec.seed);
        int vocab = v.tokens.length;
        float[] embedding = gaussian(random, vocab * DIM, 1f);
        w.addTensor("token_embd.weight", GgmlType.Q8_0, new long[] {DIM, vocab}, embedding);
        w.addTensor("output_norm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
        w.addTensor("output.weight", spec.type, new long[] {DIM, vocab}, successorHead(random, embedding, v.normalTokens));
        if (!qwen) {
            w.addTensor("rope_freqs.weight", GgmlType.F32, new long[] {HEAD_DIM / 2}, llama3RopeFactors(500000f));
        }
        for (int l = 0; l < spec.layers; l++) {
            String b = "blk." + l + ".";
            w.addTensor(b + "attn_norm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
            w.addTensor(b + "attn_q.weight", spec.type, new long[] {DIM, DIM}, projection(random, DIM, DIM));
            w.addTensor(b + "attn_k.weight", spec.type, new long[] {DIM, KV_HEADS * HEAD_DIM}, projection(random, DIM, KV_HEADS * HEAD_DIM));
            w.addTensor(b + "attn_v.weight", spec.type, new long[] {DIM, KV_HEADS * HEAD_DIM}, projection(random, DIM, KV_HEADS * HEAD_DIM));
            if (qwen) {
                w.addTensor(b + "attn_q.bias", GgmlType.F32, new long[] {DIM}, gaussian(random, DIM, 0.5f));
                w.addTensor(b + "attn_k.bias", GgmlType.F32, new long[] {KV_HEADS * HEAD_DIM}, gaussian(random, KV_HEADS * HEAD_DIM, 0.5f));
                w.addTensor(b + "attn_v.bias", GgmlType.F32, new long[] {KV_HEADS * HEAD_DIM}, gaussian(random, KV_HEADS * HEAD_DIM, 0.5f));
            }
            w.addTensor(b + "attn_output.weight", spec.type, new long[] {DIM, DIM}, residual(random, DIM, DIM));
            w.addTensor(b + "ffn_norm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
            w.addTensor(b + "ffn_gate.weight", spec.type, new long[] {DIM, FFN}, projection(random, DIM, FFN));
            w.addTensor(b + "ffn_up.weight", spec.type, new long[] {DIM, FFN}, projection(random, DIM, FFN));
            w.addTensor(b + "ffn_down.weight", spec.type, new long[] {FFN, DIM}, residual(random, FFN, DIM));
        }
        w.write(file);
    }

    private static float[] gaussian(SplittableRandom random, int n, float std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian() * std;
        }
        return x;
    }

    private static float[] projection(SplittableRandom random, int in, int out) {
        return gaussian(random, in * out, 1.2f / (float) Math.sqrt(in));
    }

    /** A projection back into the residual stream: smaller, so that each token's embedding stays its main part. */
    private static float[] residual(SplittableRandom random, int in, int out) {
        return gaussian(random, in * out, 0.4f / (float) Math.sqrt(in));
    }

    /**
     * An output layer that predicts a successor: row s(t) is token t's embedding (scaled) plus
     * noise, for a random cycle s over the normal tokens. The last layer's state is mostly the
     * current token's embedding, so the successor's logit leads by several units, while every
     * other logit still depends on all the layers' arithmetic. Random heads would leave the top
     * logits a few hundredths apart, where the int8 rounding of activations (in Fathom and in
     * llama.cpp alike) decides between them; with clear leaders, greedy continuations can be
     * compared token for token.
     */
    private static float[] successorHead(SplittableRandom random, float[] embedding, int normalTokens) {
        int vocab = embedding.length / DIM;
        float[] head = gaussian(random, vocab * DIM, 0.15f);
        int[] order = new int[normalTokens];
        for (int i = 0; i < normalTokens; i++) {
            order[i] = i;
        }
        for (int i = normalTokens - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < normalTokens; i++) {
            int token = order[i];
            int successor = order[(i + 1) % normalTokens];
            for (int d = 0; d < DIM; d++) {
                head[successor * DIM + d] += 0.1f * embedding[token * DIM + d];
            }
        }
        return head;
    }

    private static float[] norm(SplittableRandom random) {
        float[] x = new float[DIM];
        for (int i = 0; i < DIM; i++) {
            x[i] = 0.8f + 0.4f * (float) random.nextDouble();
        }
        return x;
    }

    /**
     * The rope frequency factors of Llama 3.1's scaling (factor 8, low/high frequency factors 1
     * and 4, original context 8192), as the GGUF converter computes them into rope_freqs.
     */
    static float[] llama3RopeFactors(float base) {
        float[] factors = new float[HEAD_DIM / 2];
        double low = 8192 / 1.0;
        double high = 8192 / 4.0;
        for (int i = 0; i < factors.length; i++) {
            double frequency = 1 / Math.pow(base, 2.0 * i / HEAD_DIM);
            double wavelength = 2 * Math.PI / frequency;
            if (wavelength < high) {
                factors[i] = 1;
            } else if (wavelength > low) {
                factors[i] = 8;
            } else {
                double smooth = (8192 / wavelength - 1) / (4 - 1);
                factors[i] = (float) (1 / ((1 - smooth) / 8 + smooth));
            }
        }
        return factors;
    }

    // ---- vocabularies ----

    private static final JsonMapper JSON = JsonMapper.builder().build();

    static JsonNode tokenizerJson(String pkg) throws IOException {
        return JSON.readTree(LlamaCpp.referenceDir().resolve("node_modules/@lenml/" + pkg + "/models/tokenizer.json").toFile());
    }

    /** The BPE tokens (id order) and merges of a tokenizer.json. */
    private static void bpe(JsonNode tokenizer, String[] tokens, List<String> merges) {
        for (Map.Entry<String, JsonNode> e : tokenizer.get("model").get("vocab").properties()) {
            tokens[e.getValue().asInt()] = e.getKey();
        }
        for (Iterator<JsonNode> it = tokenizer.get("model").get("merges").iterator(); it.hasNext(); ) {
            JsonNode m = it.next();
            merges.add(m.isArray() ? m.get(0).asString() + " " + m.get(1).asString() : m.asString());
        }
    }

    /** DeepSeek-R1-Distill-Qwen's vocabulary: Qwen2.5's BPE, DeepSeek's special tokens, padded to 151,936. */
    static Vocabulary qwenDistillVocabulary() throws IOException {
        JsonNode tokenizer = tokenizerJson("tokenizer-qwen3");
        String[] tokens = new String[151936];
        int[] types = new int[tokens.length];
        List<String> merges = new ArrayList<>();
        bpe(tokenizer, tokens, merges);
        java.util.Arrays.fill(types, 0, 151643, Tokenizer.NORMAL);
        String[] deepseek = {"<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>", "<｜begin▁of▁sentence｜>", "<|EOT|>",
            "<think>", "</think>"};
        for (int i = 0; i < deepseek.length; i++) {
            tokens[151643 + i] = deepseek[i];
            types[151643 + i] = deepseek[i].contains("think") ? Tokenizer.USER_DEFINED : Tokenizer.CONTROL;
        }
        for (JsonNode added : tokenizer.get("added_tokens")) {
            int id = added.get("id").asInt();
            if (id >= 151650 && id <= 151664) {
                tokens[id] = added.get("content").asString();
                types[id] = added.get("special").asBoolean() ? Tokenizer.CONTROL : Tokenizer.USER_DEFINED;
            }
        }
        for (int id = 151665; id < tokens.length; id++) {
            tokens[id] = "[PAD" + id + "]";
            types[id] = Tokenizer.UNUSED;
        }
        return new Vocabulary(tokens, types, merges.toArray(String[]::new), 151646, 151643, "deepseek-r1-qwen",
                template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"), 151643);
    }

    /** DeepSeek-R1-Distill-Llama's vocabulary: Llama 3's BPE and 256 special tokens, DeepSeek's among them. */
    static Vocabulary llamaDistillVocabulary() throws IOException {
        JsonNode tokenizer = tokenizerJson("tokenizer-llama3");
        String[] tokens = new String[128256];
        int[] types = new int[tokens.length];
        List<String> merges = new ArrayList<>();
        bpe(tokenizer, tokens, merges);
        java.util.Arrays.fill(types, 0, 128000, Tokenizer.NORMAL);
        for (JsonNode added : tokenizer.get("added_tokens")) {
            int id = added.get("id").asInt();
            tokens[id] = added.get("content").asString();
            types[id] = Tokenizer.CONTROL;
        }
        Map<Integer, String> deepseek = Map.of(128000, "<｜begin▁of▁sentence｜>", 128001, "<｜end▁of▁sentence｜>",
                128011, "<｜User｜>", 128012, "<｜Assistant｜>", 128013, "<think>", 128014, "</think>",
                128015, "<｜▁pad▁｜>");
        deepseek.forEach((id, text) -> {
            tokens[id] = text;
            types[id] = text.contains("think") ? Tokenizer.USER_DEFINED : Tokenizer.CONTROL;
        });
        return new Vocabulary(tokens, types, merges.toArray(String[]::new), 128000, 128001, "llama-bpe",
                template("deepseek-ai-DeepSeek-R1-Distill-Llama-8B"), 128000);
    }

    /**
     * A vocabulary-only file (llama hyper-parameters, no tensors) with DeepSeek-V3's tokenizer
     * (129,280 tokens) and the given pre-tokenizer, for checking tokenization alone.
     */
    public static synchronized Path deepSeekVocabulary(String pre) {
        Path file = LlamaCpp.referenceDir().getParent().resolve("target/test-models/vocab-deepseek-v3-" + pre + "-v" + VERSION + ".gguf");
        if (Files.exists(file)) {
            return file;
        }
        try {
            JsonNode tokenizer = tokenizerJson("tokenizer-deepseek_v3");
            String[] tokens = new String[129280];
            int[] types = new int[tokens.length];
            List<String> merges = new ArrayList<>();
            bpe(tokenizer, tokens, merges);
            java.util.Arrays.fill(types, 0, 128000, Tokenizer.NORMAL);
            for (JsonNode added : tokenizer.get("added_tokens")) {
                int id = added.get("id").asInt();
                String text = added.get("content").asString();
                tokens[id] = text;
                // As the GGUF converter types them: special, or shaped like a special token.
                boolean looksSpecial = (text.startsWith("<｜") && text.endsWith("｜>")) || (text.startsWith("<|") && text.endsWith("|>"));
                types[id] = added.get("special").asBoolean() || looksSpecial ? Tokenizer.CONTROL : Tokenizer.USER_DEFINED;
            }
            for (int id = 0; id < tokens.length; id++) {
                if (tokens[id] == null) {
                    tokens[id] = "[PAD" + id + "]";
                    types[id] = Tokenizer.UNUSED;
                }
            }
            new GgufWriter()
                    .putString("general.architecture", "llama")
                    .putUint32("llama.context_length", 4096)
                    .putUint32("llama.embedding_length", 64)
                    .putUint32("llama.block_count", 1)
                    .putUint32("llama.feed_forward_length", 128)
                    .putUint32("llama.attention.head_count", 1)
                    .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-6f)
                    .putString("tokenizer.ggml.model", "gpt2")
                    .putString("tokenizer.ggml.pre", pre)
                    .putStrings("tokenizer.ggml.tokens", tokens)
                    .putInt32s("tokenizer.ggml.token_type", types)
                    .putStrings("tokenizer.ggml.merges", merges.toArray(String[]::new))
                    .putUint32("tokenizer.ggml.bos_token_id", 0)
                    .putUint32("tokenizer.ggml.eos_token_id", 1)
                    .putBool("tokenizer.ggml.add_bos_token", true)
                    .write(file);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A chat template as llama.cpp's source tree has it (extracted by reference/setup.sh). */
    public static String template(String name) throws IOException {
        return Files.readString(LlamaCpp.referenceDir().resolve(".cache/templates/" + name + ".jinja"));
    }
}
