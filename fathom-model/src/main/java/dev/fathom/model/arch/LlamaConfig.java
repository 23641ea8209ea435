package dev.fathom.model.arch;

import dev.fathom.model.ModelFile;

/**
 * Hyper-parameters of the llama family (llama, qwen2), read from GGUF metadata under the
 * architecture's prefix, with llama.cpp's defaults for the optional keys.
 *
 * @param ropeNeox rotate pairs (i, i + d/2) as qwen2 does, instead of llama's (2i, 2i + 1)
 * @param ropeScale multiplies every rotary angle (1 / linear scaling factor)
 */
public record LlamaConfig(
        String architecture,
        int dim,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int ffnDim,
        int vocabularySize,
        int contextLength,
        float rmsEps,
        float ropeBase,
        float ropeScale,
        int ropeDim,
        boolean ropeNeox) {

    public static LlamaConfig from(ModelFile gguf, int vocabularySize) {
        String arch = gguf.getString("general.architecture");
        String p = arch + ".";
        int dim = positive(gguf, p + "embedding_length", gguf.getInt(p + "embedding_length"));
        int heads = positive(gguf, p + "attention.head_count", gguf.getInt(p + "attention.head_count"));
        int kvHeads = positive(gguf, p + "attention.head_count_kv", gguf.getInt(p + "attention.head_count_kv", heads));
        int headDim = positive(gguf, p + "attention.key_length", gguf.getInt(p + "attention.key_length", dim / heads));
        int valueDim = gguf.getInt(p + "attention.value_length", dim / heads);
        if (valueDim != headDim) {
            throw gguf.error("key_length " + headDim + " differs from value_length " + valueDim);
        }
        if (heads % kvHeads != 0) {
            throw gguf.error(heads + " heads do not split into " + kvHeads + " kv heads");
        }
        int ropeDim = gguf.getInt(p + "rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0) {
            throw gguf.error("rope.dimension_count " + ropeDim + " does not fit head size " + headDim);
        }
        String scaling = gguf.getString(p + "rope.scaling.type", "linear");
        if (!scaling.equals("linear") && !scaling.equals("none")) {
            throw gguf.error("rope scaling type '" + scaling + "' is not supported for " + arch);
        }
        // As llama.cpp: type "none" means no scaling, whatever factor the file also states.
        float factor = scaling.equals("none") ? 0f
                : gguf.getFloat(p + "rope.scaling.factor", gguf.getFloat(p + "rope.scale_linear", 0f));
        return new LlamaConfig(arch, dim, positive(gguf, p + "block_count", gguf.getInt(p + "block_count")), heads,
                kvHeads, headDim, positive(gguf, p + "feed_forward_length", gguf.getInt(p + "feed_forward_length")),
                vocabularySize, positive(gguf, p + "context_length", gguf.getInt(p + "context_length")),
                gguf.getFloat(p + "attention.layer_norm_rms_epsilon"), gguf.getFloat(p + "rope.freq_base", 10000f),
                factor == 0 ? 1f : 1f / factor, ropeDim, arch.equals("qwen2"));
    }

    private static int positive(ModelFile gguf, String key, int value) {
        if (value < 1) {
            throw gguf.error("metadata " + key + " = " + value + " must be positive");
        }
        return value;
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    public int qDim() {
        return heads * headDim;
    }
}
