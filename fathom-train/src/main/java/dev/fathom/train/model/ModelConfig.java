package dev.fathom.train.model;

/**
 * The shape of a miniature DeepSeek model: the {@code deepseek2} architecture the engine runs
 * (MLA with a low-rank query and decoupled rotary keys; DeepSeekMoE with a shared expert and
 * fine-grained routed experts, sigmoid gates and a balancing bias), at a size two cores train.
 *
 * @param vocabulary tokens
 * @param dim the residual stream's width
 * @param layers transformer blocks; the first {@code denseLayers} have a dense feed-forward
 * @param heads attention heads
 * @param queryRank the query's low-rank width (q_lora_rank)
 * @param latentRank the compressed key-value width (kv_lora_rank)
 * @param nopeDim per head, the query and key dimensions without rotation
 * @param ropeDim per head, the rotated dimensions (the key's are shared by all heads)
 * @param valueDim per head, the value dimensions
 * @param denseFfn the dense feed-forward's hidden width
 * @param experts routed experts per MoE layer
 * @param expertsUsed routed experts each token goes to
 * @param expertFfn each expert's hidden width (the shared expert's too)
 * @param ropeBase the rotary frequency base
 * @param context the longest sequence
 */
public record ModelConfig(int vocabulary, int dim, int layers, int denseLayers, int heads, int queryRank,
        int latentRank, int nopeDim, int ropeDim, int valueDim, int denseFfn, int experts, int expertsUsed,
        int expertFfn, double ropeBase, int context) {

    /** RMSNorm's epsilon. */
    public static final double NORM_EPS = 1e-6;

    public ModelConfig {
        if (ropeDim % 2 != 0) {
            throw new IllegalArgumentException("the rotated dimensions come in pairs: ropeDim " + ropeDim);
        }
        if (expertsUsed > experts || denseLayers > layers) {
            throw new IllegalArgumentException("expertsUsed " + expertsUsed + " of " + experts + " experts, "
                    + denseLayers + " dense of " + layers + " layers");
        }
    }

    /** This shape with a vocabulary of {@code size} tokens (a trained tokenizer may end with fewer than asked for). */
    public ModelConfig withVocabulary(int size) {
        return new ModelConfig(size, dim, layers, denseLayers, heads, queryRank, latentRank, nopeDim, ropeDim, valueDim,
                denseFfn, experts, expertsUsed, expertFfn, ropeBase, context);
    }

    /** Per head, the query and key width. */
    public int keyDim() {
        return nopeDim + ropeDim;
    }

    /** Whether layer {@code l} routes to experts. */
    public boolean moe(int l) {
        return l >= denseLayers;
    }

    /** The softmax scale of attention scores. */
    public double attentionScale() {
        return 1 / Math.sqrt(keyDim());
    }
}
