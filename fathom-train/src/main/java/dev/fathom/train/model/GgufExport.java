package dev.fathom.train.model;

import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.tensor.GgmlType;
import dev.fathom.train.tokenizer.BpeTrainer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a trained model as a {@code deepseek2} GGUF file that Fathom and llama.cpp load: the
 * hyper-parameters under llama.cpp's keys (MLA with one attn_kv_b per layer, sigmoid gates,
 * normalised expert weights, the balancing bias as {@code exp_probs_b.bias}), the tokenizer,
 * the chat template. Norms, the router and the bias are kept in f32; matrices are written in
 * the chosen type, or f32 where their rows are not whole blocks of it.
 */
public final class GgufExport {
    private GgufExport() {
    }

    /** Writes {@code model} to {@code file}, with {@code arrays} (float arrays by metadata key; may be empty) in its metadata. */
    public static void write(MiniDeepSeek model, BpeTrainer.Vocabulary vocabulary, String bos, String eos,
            String chatTemplate, String name, GgmlType type, Map<String, float[]> arrays, Path file) throws IOException {
        ModelConfig c = model.config();
        if (vocabulary.tokens().length != c.vocabulary()) {
            throw new IllegalArgumentException("the vocabulary has " + vocabulary.tokens().length
                    + " tokens, the model " + c.vocabulary());
        }
        String a = "deepseek2.";
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "deepseek2")
                .putString("general.name", name)
                .putUint32(a + "context_length", c.context())
                .putUint32(a + "embedding_length", c.dim())
                .putUint32(a + "block_count", c.layers())
                .putUint32(a + "feed_forward_length", c.denseFfn())
                .putUint32(a + "attention.head_count", c.heads())
                .putUint32(a + "attention.head_count_kv", c.heads())
                .putUint32(a + "attention.key_length", c.keyDim())
                .putUint32(a + "attention.value_length", c.valueDim())
                .putUint32(a + "attention.q_lora_rank", c.queryRank())
                .putUint32(a + "attention.kv_lora_rank", c.latentRank())
                .putFloat32(a + "attention.layer_norm_rms_epsilon", (float) ModelConfig.NORM_EPS)
                .putUint32(a + "rope.dimension_count", c.ropeDim())
                .putFloat32(a + "rope.freq_base", (float) c.ropeBase())
                .putUint32(a + "leading_dense_block_count", c.denseLayers())
                .putUint32(a + "expert_count", c.experts())
                .putUint32(a + "expert_used_count", c.expertsUsed())
                .putUint32(a + "expert_shared_count", 1)
                .putUint32(a + "expert_feed_forward_length", c.expertFfn())
                .putFloat32(a + "expert_weights_scale", 1f)
                .putBool(a + "expert_weights_norm", true)
                .putUint32(a + "expert_gating_func", 2) // sigmoid
                .putUint32(a + "vocab_size", c.vocabulary());
        vocabulary.writeTo(w, bos, eos, chatTemplate);
        arrays.forEach(w::putFloat32s);
        double[] values = model.parameters().values();
        for (Parameters.Tensor t : model.parameters().tensors()) {
            float[] data = new float[t.size()];
            for (int i = 0; i < data.length; i++) {
                data[i] = (float) values[t.offset() + i];
            }
            boolean vector = t.name().endsWith("norm.weight");
            long[] shape = vector ? new long[] {t.cols()}
                    : t.count() > 1 || t.name().contains("_exps") ? new long[] {t.cols(), t.rows(), t.count()}
                    : new long[] {t.cols(), t.rows()};
            boolean matrix = !vector && !t.name().endsWith("ffn_gate_inp.weight");
            GgmlType chosen = matrix && t.cols() % type.blockSize == 0 ? type : GgmlType.F32;
            w.addTensor(t.name(), chosen, shape, data);
            if (t.name().endsWith("ffn_gate_inp.weight")) {
                int layer = Integer.parseInt(t.name().split("\\.")[1]);
                double[] bias = model.balance(layer);
                float[] b = new float[bias.length];
                for (int i = 0; i < b.length; i++) {
                    b[i] = (float) bias[i];
                }
                w.addTensor("blk." + layer + ".exp_probs_b.bias", GgmlType.F32, new long[] {b.length}, b);
            }
        }
        w.write(file);
    }
}
