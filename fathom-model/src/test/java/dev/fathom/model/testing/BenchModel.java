package dev.fathom.model.testing;

import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.kernel.WeightKernel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.function.IntFunction;
import java.util.stream.IntStream;

/**
 * Writes synthetic models for the speed benchmarks in {@code bench/}, with random weights and
 * real tokenizers, quantized as llama.cpp's quantizer would:
 * <ul>
 * <li>{@code q8_0}, {@code q4_k_m}, {@code q4_0}: the exact shape of DeepSeek-R1-Distill-Qwen-1.5B
 * (hidden 1536, 28 layers, 12 heads, 2 KV heads, FFN 8960, vocabulary 151,936);
 * <li>{@code v2-lite-q8_0}, {@code v2-lite-q4_k}: DeepSeek-V2-Lite's widths (hidden 2048, 16 MLA
 * heads, kv_lora_rank 512, 64 routed experts of 1408 + 2 shared, 6 per token, a dense first
 * layer of 10944, vocabulary 102,400) with fewer layers, as many as memory allows.
 * </ul>
 *
 * <p>Usage: {@code BenchModel OUT.gguf q8_0|q4_k_m|q4_0} or {@code BenchModel OUT.gguf v2-lite-q8_0|v2-lite-q4_k LAYERS}
 */
public final class BenchModel {
    static final int DIM = 1536;
    static final int LAYERS = 28;
    static final int HEADS = 12;
    static final int KV_HEADS = 2;
    static final int HEAD_DIM = 128;
    static final int FFN = 8960;

    private BenchModel() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 3 && args[1].startsWith("v2-lite-")) {
            writeV2Lite(Path.of(args[0]), args[1], Integer.parseInt(args[2]));
            return;
        }
        if (args.length != 2) {
            System.err.println("usage: BenchModel OUT.gguf q8_0|q4_k_m|q4_0, or BenchModel OUT.gguf v2-lite-q8_0|v2-lite-q4_k LAYERS");
            System.exit(2);
        }
        Path out = Path.of(args[0]);
        String mix = args[1];
        IntFunction<GgmlType> valueType;
        GgmlType base;
        GgmlType head;
        switch (mix) {
            case "q8_0" -> {
                base = GgmlType.Q8_0;
                head = GgmlType.Q8_0;
                valueType = layer -> GgmlType.Q8_0;
            }
            case "q4_k_m" -> {
                base = GgmlType.Q4_K;
                head = GgmlType.Q6_K;
                // llama.cpp gives attn_v and ffn_down more bits in the first and last eighth of the
                // layers and in every third layer between.
                valueType = layer -> layer < LAYERS / 8 || layer >= 7 * LAYERS / 8 || (layer - LAYERS / 8) % 3 == 2
                        ? GgmlType.Q6_K : GgmlType.Q4_K;
            }
            case "q4_0" -> { // as llama.cpp's Q4_0: the output head in Q6_K
                base = GgmlType.Q4_0;
                head = GgmlType.Q6_K;
                valueType = layer -> GgmlType.Q4_0;
            }
            default -> throw new IllegalArgumentException("unknown mix " + mix + " (q8_0, q4_k_m or q4_0)");
        }
        TestModels.Vocabulary v = TestModels.qwenDistillVocabulary();
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "qwen2")
                .putString("general.name", "synthetic R1-Distill-Qwen-1.5B shape " + mix.toUpperCase())
                .putUint32("qwen2.context_length", 131072)
                .putUint32("qwen2.embedding_length", DIM)
                .putUint32("qwen2.block_count", LAYERS)
                .putUint32("qwen2.feed_forward_length", FFN)
                .putUint32("qwen2.attention.head_count", HEADS)
                .putUint32("qwen2.attention.head_count_kv", KV_HEADS)
                .putFloat32("qwen2.attention.layer_norm_rms_epsilon", 1e-6f)
                .putFloat32("qwen2.rope.freq_base", 10000f);
        v.writeTo(w);
        int vocab = v.tokens().length;
        int kv = KV_HEADS * HEAD_DIM;
        matrix(w, "token_embd.weight", base, DIM, vocab, 1f, 1);
        vector(w, "output_norm.weight", DIM, 1f, 2);
        matrix(w, "output.weight", head, DIM, vocab, 1f / (float) Math.sqrt(DIM), 3);
        for (int l = 0; l < LAYERS; l++) {
            String b = "blk." + l + ".";
            long seed = 100L * (l + 1);
            vector(w, b + "attn_norm.weight", DIM, 1f, seed);
            matrix(w, b + "attn_q.weight", base, DIM, DIM, 1f / (float) Math.sqrt(DIM), seed + 1);
            matrix(w, b + "attn_k.weight", base, DIM, kv, 1f / (float) Math.sqrt(DIM), seed + 2);
            matrix(w, b + "attn_v.weight", valueType.apply(l), DIM, kv, 1f / (float) Math.sqrt(DIM), seed + 3);
            vector(w, b + "attn_q.bias", DIM, 0.1f, seed + 4);
            vector(w, b + "attn_k.bias", kv, 0.1f, seed + 5);
            vector(w, b + "attn_v.bias", kv, 0.1f, seed + 6);
            matrix(w, b + "attn_output.weight", base, DIM, DIM, 0.5f / (float) Math.sqrt(DIM), seed + 7);
            vector(w, b + "ffn_norm.weight", DIM, 1f, seed + 8);
            matrix(w, b + "ffn_gate.weight", base, DIM, FFN, 1f / (float) Math.sqrt(DIM), seed + 9);
            matrix(w, b + "ffn_up.weight", base, DIM, FFN, 1f / (float) Math.sqrt(DIM), seed + 10);
            matrix(w, b + "ffn_down.weight", valueType.apply(l), FFN, DIM, 0.5f / (float) Math.sqrt(FFN), seed + 11);
        }
        long start = System.nanoTime();
        w.write(out);
        System.err.printf("wrote %s in %.0f s%n", out, (System.nanoTime() - start) / 1e9);
    }

    private static void writeV2Lite(Path out, String mix, int layers) throws IOException {
        int dim = 2048;
        int heads = 16;
        int rank = 512;
        int nope = 128;
        int rope = 64;
        int value = 128;
        int experts = 64;
        int expertFfn = 1408;
        int shared = 2 * expertFfn;
        int denseFfn = 10944;
        GgmlType base = switch (mix) {
            case "v2-lite-q8_0" -> GgmlType.Q8_0;
            case "v2-lite-q4_k" -> GgmlType.Q4_K;
            default -> throw new IllegalArgumentException("unknown mix " + mix + " (v2-lite-q8_0 or v2-lite-q4_k)");
        };
        // Rows whose length is not a whole number of 256-blocks (128, 1408, 10944) get the type
        // llama.cpp's quantizer falls back to.
        java.util.function.IntFunction<GgmlType> typeFor = cols -> cols % base.blockSize == 0 ? base : GgmlType.Q5_0;
        TestModels.Vocabulary v = TestModels.deepSeekV3Vocabulary("deepseek-llm", 102400);
        String a = "deepseek2.";
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "deepseek2")
                .putString("general.name", "synthetic DeepSeek-V2-Lite widths, " + layers + " layers, " + mix)
                .putUint32(a + "context_length", 163840)
                .putUint32(a + "embedding_length", dim)
                .putUint32(a + "block_count", layers)
                .putUint32(a + "feed_forward_length", denseFfn)
                .putUint32(a + "attention.head_count", heads)
                .putUint32(a + "attention.head_count_kv", 1)
                .putUint32(a + "attention.key_length", rank + rope)
                .putUint32(a + "attention.value_length", rank)
                .putUint32(a + "attention.key_length_mla", nope + rope)
                .putUint32(a + "attention.value_length_mla", value)
                .putUint32(a + "attention.kv_lora_rank", rank)
                .putFloat32(a + "attention.layer_norm_rms_epsilon", 1e-6f)
                .putUint32(a + "rope.dimension_count", rope)
                .putFloat32(a + "rope.freq_base", 10000f)
                .putString(a + "rope.scaling.type", "yarn")
                .putFloat32(a + "rope.scaling.factor", 40f)
                .putUint32(a + "rope.scaling.original_context_length", 4096)
                .putFloat32(a + "rope.scaling.yarn_log_multiplier", 0.0707f)
                .putUint32(a + "leading_dense_block_count", 1)
                .putUint32(a + "expert_count", experts)
                .putUint32(a + "expert_used_count", 6)
                .putUint32(a + "expert_shared_count", 2)
                .putUint32(a + "expert_feed_forward_length", expertFfn)
                .putFloat32(a + "expert_weights_scale", 1f)
                .putBool(a + "expert_weights_norm", false)
                .putUint32(a + "expert_gating_func", 1);
        v.writeTo(w);
        int vocab = v.tokens().length;
        float in = 1f / (float) Math.sqrt(dim);
        matrix(w, "token_embd.weight", base, dim, vocab, 1f, 1);
        vector(w, "output_norm.weight", dim, 1f, 2);
        matrix(w, "output.weight", base, dim, vocab, in, 3);
        for (int l = 0; l < layers; l++) {
            String b = "blk." + l + ".";
            long seed = 100L * (l + 1);
            vector(w, b + "attn_norm.weight", dim, 1f, seed);
            matrix(w, b + "attn_q.weight", base, dim, heads * (nope + rope), in, seed + 1);
            matrix(w, b + "attn_kv_a_mqa.weight", base, dim, rank + rope, in, seed + 2);
            vector(w, b + "attn_kv_a_norm.weight", rank, 1f, seed + 3);
            tensor(w, b + "attn_k_b.weight", typeFor.apply(nope), new long[] {nope, rank, heads}, 1f / (float) Math.sqrt(nope), seed + 4);
            tensor(w, b + "attn_v_b.weight", base, new long[] {rank, value, heads}, 1f / (float) Math.sqrt(rank), seed + 5);
            matrix(w, b + "attn_output.weight", base, heads * value, dim, 0.5f / (float) Math.sqrt(heads * value), seed + 6);
            vector(w, b + "ffn_norm.weight", dim, 1f, seed + 7);
            if (l == 0) {
                matrix(w, b + "ffn_gate.weight", base, dim, denseFfn, in, seed + 8);
                matrix(w, b + "ffn_up.weight", base, dim, denseFfn, in, seed + 9);
                matrix(w, b + "ffn_down.weight", typeFor.apply(denseFfn), denseFfn, dim, 0.5f / (float) Math.sqrt(denseFfn), seed + 10);
                continue;
            }
            matrix(w, b + "ffn_gate_inp.weight", GgmlType.F32, dim, experts, in, seed + 11);
            tensor(w, b + "ffn_gate_exps.weight", base, new long[] {dim, expertFfn, experts}, in, seed + 12);
            tensor(w, b + "ffn_up_exps.weight", base, new long[] {dim, expertFfn, experts}, in, seed + 13);
            tensor(w, b + "ffn_down_exps.weight", typeFor.apply(expertFfn), new long[] {expertFfn, dim, experts},
                    0.5f / (float) Math.sqrt(expertFfn), seed + 14);
            matrix(w, b + "ffn_gate_shexp.weight", base, dim, shared, in, seed + 15);
            matrix(w, b + "ffn_up_shexp.weight", base, dim, shared, in, seed + 16);
            matrix(w, b + "ffn_down_shexp.weight", typeFor.apply(shared), shared, dim, 0.5f / (float) Math.sqrt(shared), seed + 17);
        }
        long start = System.nanoTime();
        w.write(out);
        System.err.printf("wrote %s in %.0f s%n", out, (System.nanoTime() - start) / 1e9);
    }

    /** A matrix of random Gaussian rows, generated and quantized row by row, in parallel. */
    private static void matrix(GgufWriter w, String name, GgmlType type, int cols, int rows, float std, long seed) {
        tensor(w, name, type, new long[] {cols, rows}, std, seed);
    }

    /** A tensor of any rank (rows of shape[0] values), generated and quantized row by row, in parallel. */
    private static void tensor(GgufWriter w, String name, GgmlType type, long[] shape, float std, long seed) {
        int cols = (int) shape[0];
        long count = 1;
        for (int d = 1; d < shape.length; d++) {
            count *= shape[d];
        }
        int rows = Math.toIntExact(count);
        WeightKernel kernel = WeightKernel.of(type);
        long rowBytes = type.bytesFor(cols);
        w.addTensor(name, type, shape, out -> IntStream.range(0, rows).parallel().forEach(r -> {
            SplittableRandom random = new SplittableRandom(seed * 1_000_003L + r);
            float[] row = new float[cols];
            for (int i = 0; i < cols; i++) {
                row[i] = (float) random.nextGaussian() * std;
            }
            kernel.quantize(row, 0, out, r * rowBytes, cols);
        }));
    }

    /** A vector around {@code mean} (norm weights) or around 0 (biases, mean < 1). */
    private static void vector(GgufWriter w, String name, int n, float scale, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = scale >= 1 ? 0.8f + 0.4f * (float) random.nextDouble() : (float) random.nextGaussian() * scale;
        }
        w.addTensor(name, GgmlType.F32, new long[] {n}, x);
    }
}
