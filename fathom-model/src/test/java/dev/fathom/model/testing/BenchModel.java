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
 * Writes a synthetic model with the exact shape of DeepSeek-R1-Distill-Qwen-1.5B (hidden 1536,
 * 28 layers, 12 heads, 2 KV heads, FFN 8960, vocabulary 151,936) and its real tokenizer, with
 * random weights, quantized as llama.cpp's {@code Q8_0} or {@code Q4_K_M} would: for the speed
 * benchmarks in {@code bench/}.
 *
 * <p>Usage: {@code BenchModel OUT.gguf q8_0|q4_k_m}
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
        if (args.length != 2) {
            System.err.println("usage: BenchModel OUT.gguf q8_0|q4_k_m");
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
            default -> throw new IllegalArgumentException("unknown mix " + mix + " (q8_0 or q4_k_m)");
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
                .putFloat32("qwen2.rope.freq_base", 10000f)
                .putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", v.pre())
                .putStrings("tokenizer.ggml.tokens", v.tokens())
                .putInt32s("tokenizer.ggml.token_type", v.types())
                .putStrings("tokenizer.ggml.merges", v.merges())
                .putUint32("tokenizer.ggml.bos_token_id", v.bos())
                .putUint32("tokenizer.ggml.eos_token_id", v.eos())
                .putBool("tokenizer.ggml.add_bos_token", true)
                .putString("tokenizer.chat_template", v.template());
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

    /** A matrix of random Gaussian rows, generated and quantized row by row, in parallel. */
    private static void matrix(GgufWriter w, String name, GgmlType type, int cols, int rows, float std, long seed) {
        WeightKernel kernel = WeightKernel.of(type);
        long rowBytes = type.bytesFor(cols);
        w.addTensor(name, type, new long[] {cols, rows}, out -> IntStream.range(0, rows).parallel().forEach(r -> {
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
