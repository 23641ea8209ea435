package dev.fathom.model.arch;

import dev.fathom.model.gguf.GgufException;
import dev.fathom.model.gguf.GgufFile;

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

    public static LlamaConfig from(GgufFile gguf, int vocabularySize) {
        String arch = gguf.getString("general.architecture");
        String p = arch + ".";
        int dim = gguf.getInt(p + "embedding_length");
        int heads = gguf.getInt(p + "attention.head_count");
        int kvHeads = gguf.getInt(p + "attention.head_count_kv", heads);
        int headDim = gguf.getInt(p + "attention.key_length", dim / heads);
        int valueDim = gguf.getInt(p + "attention.value_length", dim / heads);
        if (valueDim != headDim) {
            throw new GgufException(gguf.path() + ": key_length " + headDim + " differs from value_length " + valueDim);
        }
        if (heads % kvHeads != 0) {
            throw new GgufException(gguf.path() + ": " + heads + " heads do not split into " + kvHeads + " kv heads");
        }
        int ropeDim = gguf.getInt(p + "rope.dimension_count", headDim);
        if (ropeDim > headDim || ropeDim % 2 != 0) {
            throw new GgufException(gguf.path() + ": rope.dimension_count " + ropeDim + " does not fit head size " + headDim);
        }
        float factor = gguf.getFloat(p + "rope.scaling.factor", gguf.getFloat(p + "rope.scale_linear", 0f));
        String scaling = gguf.getString(p + "rope.scaling.type", "linear");
        if (!scaling.equals("linear") && !scaling.equals("none")) {
            throw new GgufException(gguf.path() + ": rope scaling type '" + scaling + "' is not supported for " + arch);
        }
        return new LlamaConfig(arch, dim, gguf.getInt(p + "block_count"), heads, kvHeads, headDim,
                gguf.getInt(p + "feed_forward_length"), vocabularySize, gguf.getInt(p + "context_length"),
                gguf.getFloat(p + "attention.layer_norm_rms_epsilon"), gguf.getFloat(p + "rope.freq_base", 10000f),
                factor == 0 ? 1f : 1f / factor, ropeDim, arch.equals("qwen2"));
    }

    public int kvDim() {
        return kvHeads * headDim;
    }

    public int qDim() {
        return heads * headDim;
    }
}
