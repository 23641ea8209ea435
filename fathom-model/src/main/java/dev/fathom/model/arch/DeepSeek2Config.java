package dev.fathom.model.arch;

import dev.fathom.model.ModelFile;

/**
 * Hyper-parameters of DeepSeek-V2/V3/R1 (GGUF {@code deepseek2}), read from metadata under
 * {@code deepseek2.} with llama.cpp's defaults for the optional keys.
 *
 * @param qLoraRank width of the query's low-rank bottleneck; 0 when queries are projected directly (V2-Lite)
 * @param kvLoraRank width of the cached latent c (512 in V2 and V3)
 * @param nopeDim per-head query and key dimensions without rotary positions (128)
 * @param ropeDim per-head rotary dimensions, shared by all heads on the key side (64)
 * @param valueDim per-head value dimension (128)
 * @param denseLayers the leading layers with a dense feed-forward instead of experts
 * @param sigmoidGating V3's sigmoid router scores; V2 uses a softmax
 * @param expertWeightsScale multiplies the routing weights (V3: 2.5); 1 leaves them
 * @param groups expert groups for group-limited routing (0 or 1: none)
 * @param groupsUsed the groups a token's experts may come from
 * @param groupRankByMax whether a group ranks by its best score (V2's group_limited_greedy) rather
 *     than by the sum of its two best (V3, and llama.cpp for every file)
 * @param mtpLayers multi-token-prediction layers stored after the main ones (nextn_predict_layers)
 */
public record DeepSeek2Config(
        int dim,
        int layers,
        int heads,
        int vocabularySize,
        int contextLength,
        float rmsEps,
        int qLoraRank,
        int kvLoraRank,
        int nopeDim,
        int ropeDim,
        int valueDim,
        int ffnDim,
        int denseLayers,
        int experts,
        int expertsUsed,
        int sharedExperts,
        int expertFfnDim,
        boolean sigmoidGating,
        boolean normalizeExpertWeights,
        float expertWeightsScale,
        int groups,
        int groupsUsed,
        boolean groupRankByMax,
        Rope rope,
        int mtpLayers) {

    /**
     * Rotary positions with optional YaRN context extension, as llama.cpp computes them.
     *
     * @param freqScale 1 / scaling factor
     * @param extFactor YaRN's extrapolation mix (1 with YaRN, else 0)
     * @param low first rotary pair that is interpolated rather than extrapolated (YaRN's correction range)
     * @param high last such pair
     * @param mscale multiplies the cosines and sines (so both q and k carry its square root's effect)
     * @param attentionScale the softmax scale: mscale_attn² / √(nope + rope)
     */
    public record Rope(float base, float freqScale, float extFactor, float low, float high, float mscale,
            float attentionScale) {
    }

    /**
     * Fathom's own metadata key, {@code max} for V2's group ranking (GGUF has none: llama.cpp
     * ranks every file's groups by their two best scores). Written for Hugging Face checkpoints
     * with {@code topk_method: group_limited_greedy}, and kept when they are converted.
     */
    public static final String GROUP_RANK_KEY = "deepseek2.expert_group_rank";

    public static DeepSeek2Config from(ModelFile gguf, int vocabularySize) {
        String p = "deepseek2.";
        int dim = positive(gguf, p + "embedding_length");
        int blocks = positive(gguf, p + "block_count");
        int nextn = gguf.getInt(p + "nextn_predict_layers", 0);
        int layers = blocks - nextn;
        if (nextn < 0 || layers < 1) {
            throw gguf.error("nextn_predict_layers " + nextn + " leaves no layers of the " + blocks);
        }
        int heads = positive(gguf, p + "attention.head_count");
        // Files of current converters describe the heads under *_mla (their key_length is the
        // latent's); older ones, with one unsplit attn_kv_b per layer, under the plain keys.
        String mla = gguf.has(p + "attention.key_length_mla") ? "_mla" : "";
        int keyDim = positive(gguf, p + "attention.key_length" + mla);
        int valueDim = positive(gguf, p + "attention.value_length" + mla);
        int ropeDim = positive(gguf, p + "rope.dimension_count");
        if (ropeDim % 2 != 0 || ropeDim >= keyDim) {
            throw gguf.error("rope.dimension_count " + ropeDim + " does not fit key_length_mla " + keyDim);
        }
        int kvLoraRank = positive(gguf, p + "attention.kv_lora_rank");
        int experts = gguf.getInt(p + "expert_count", 0);
        int used = gguf.getInt(p + "expert_used_count", 0);
        int groups = gguf.getInt(p + "expert_group_count", 0);
        int groupsUsed = gguf.getInt(p + "expert_group_used_count", 0);
        int dense = gguf.getInt(p + "leading_dense_block_count", 0);
        if (dense < layers && (experts < 1 || used < 1 || used > experts)) {
            throw gguf.error(experts + " experts with " + used + " used per token cannot route");
        }
        if (groups > 1 && (experts % groups != 0 || groupsUsed < 1 || groupsUsed >= groups
                || groupsUsed * (experts / groups) < used)) {
            throw gguf.error(experts + " experts in " + groups + " groups, " + groupsUsed
                    + " of them used, cannot give " + used + " experts per token");
        }
        int gating = gguf.getInt(p + "expert_gating_func", 1); // 1 softmax, 2 sigmoid; old V2 files have none
        if (gating != 1 && gating != 2) {
            throw gguf.error("expert_gating_func " + gating + " is not supported (1 softmax, 2 sigmoid)");
        }
        int contextLength = positive(gguf, p + "context_length");
        float weightsScale = gguf.getFloat(p + "expert_weights_scale", 0f);
        return new DeepSeek2Config(dim, layers, heads, vocabularySize, contextLength,
                gguf.getFloat(p + "attention.layer_norm_rms_epsilon"), gguf.getInt(p + "attention.q_lora_rank", 0),
                kvLoraRank, keyDim - ropeDim, ropeDim, valueDim, gguf.getInt(p + "feed_forward_length", 0), dense,
                experts, used, gguf.getInt(p + "expert_shared_count", 0),
                gguf.getInt(p + "expert_feed_forward_length", 0), gating == 2,
                gguf.getBool(p + "expert_weights_norm", false), weightsScale == 0f ? 1f : weightsScale,
                groups > 1 ? groups : 0, groups > 1 ? groupsUsed : 0,
                gguf.getString(GROUP_RANK_KEY, "top2_sum").equals("max"), rope(gguf, p, ropeDim, keyDim, contextLength), nextn);
    }

    /**
     * llama.cpp's YaRN bookkeeping for deepseek2, reduced to its effect: the cosines and sines
     * are scaled by {@code mscale}, and the attention scores by the square of
     * 1 + 0.1 · mscale_all_dim · ln(factor) (times 1 + 0.1 · ln(factor) when the file names no
     * mscale_all_dim), over √(key dimension).
     */
    private static Rope rope(ModelFile gguf, String p, int ropeDim, int keyDim, int contextLength) {
        float base = gguf.getFloat(p + "rope.freq_base", 10000f);
        String type = gguf.getString(p + "rope.scaling.type", "linear");
        if (!type.equals("none") && !type.equals("linear") && !type.equals("yarn")) {
            throw gguf.error("rope scaling type '" + type + "' is not supported for deepseek2");
        }
        float factor = type.equals("none") ? 0f : gguf.getFloat(p + "rope.scaling.factor", 0f);
        float freqScale = factor == 0f ? 1f : 1f / factor;
        float inverseScale = 1f / freqScale;
        float logFactor = (float) Math.log(inverseScale);
        float attnFactor = 1f;
        float extFactor = 0f;
        float logMul = gguf.getFloat(p + "rope.scaling.yarn_log_multiplier", 0f) / 0.1f; // stored as 0.1 · mscale_all_dim
        float low = 0;
        float high = 0;
        if (type.equals("yarn")) {
            extFactor = 1f;
            // With mscale_all_dim given, llama.cpp's factor is get_mscale(mscale) / get_mscale(mscale_all_dim) = 1.
            attnFactor = logMul != 0f ? 1f : mscale(inverseScale, 1f);
            attnFactor /= 1f + 0.1f * logFactor;
            int original = gguf.getInt(p + "rope.scaling.original_context_length", contextLength);
            // β_fast 32 and β_slow 1: llama.cpp reads no other values for deepseek2.
            low = Math.max(0f, (float) Math.floor(correctionDim(ropeDim, original, 32f, base)));
            high = Math.min(ropeDim - 1f, (float) Math.ceil(correctionDim(ropeDim, original, 1f, base)));
        }
        attnFactor *= gguf.getFloat(p + "rope.scaling.attn_factor", 1f);
        float ropeMscale = attnFactor * (extFactor != 0f ? 1f + 0.1f * logFactor : 1f);
        float attnMscale = attnFactor * (1f + 0.1f * logFactor) * (1f + 0.1f * logMul * logFactor);
        return new Rope(base, freqScale, extFactor, low, high, ropeMscale,
                attnMscale * attnMscale / (float) Math.sqrt(keyDim));
    }

    private static float mscale(float scale, float mscale) {
        return scale <= 1f ? 1f : 0.1f * mscale * (float) Math.log(scale) + 1f;
    }

    /** The rotary dimension whose wavelength fits {@code rotations} times into the original context. */
    private static float correctionDim(int ropeDim, int originalContext, float rotations, float base) {
        return ropeDim * (float) Math.log(originalContext / (rotations * 2 * (float) Math.PI)) / (2 * (float) Math.log(base));
    }

    private static int positive(ModelFile gguf, String key) {
        int value = gguf.getInt(key);
        if (value < 1) {
            throw gguf.error("metadata " + key + " = " + value + " must be positive");
        }
        return value;
    }

    /** Per head, the query and key width: the part without positions and the rotary part. */
    public int keyDim() {
        return nopeDim + ropeDim;
    }

    /** Values cached per token and layer: the latent and the shared rotary key. */
    public int cacheWidth() {
        return kvLoraRank + ropeDim;
    }

    public boolean isMoe(int layer) {
        return layer >= denseLayers;
    }
}
