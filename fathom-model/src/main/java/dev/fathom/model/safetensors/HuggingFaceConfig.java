package dev.fathom.model.safetensors;

import dev.fathom.model.ModelFileException;
import dev.fathom.model.arch.DeepSeek2Config;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import java.nio.file.Path;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * A {@code config.json} in the words of GGUF: the metadata that llama.cpp's converter writes for
 * the same checkpoint, so that one reader of hyper-parameters serves both formats. DeepSeek-V2/V3
 * ({@code deepseek2.*}), and the dense models the R1 distills are made from: Qwen2 and Llama
 * ({@code qwen2.*}, {@code llama.*}; Llama 3's rope scaling becomes the {@code rope_freqs} factors
 * the converter computes).
 *
 * <p>Attention is described as in GGUF files with one {@code attn_kv_b} per layer (the layout
 * of the checkpoint): key length = nope + rope dimensions. Expert groups follow
 * {@code topk_method}: {@code greedy} has none; {@code noaux_tc} (V3) ranks a group by the sum
 * of its two best scores, as llama.cpp does; {@code group_limited_greedy} (V2, V2.5) by its best
 * score, which GGUF cannot say: Fathom's own key {@link DeepSeek2Config#GROUP_RANK_KEY} carries it.
 */
final class HuggingFaceConfig {
    private final Path file;
    private final JsonNode config;

    HuggingFaceConfig(Path file, JsonNode config) {
        this.file = file;
        this.config = config;
    }

    int layers() {
        return positive("num_hidden_layers");
    }

    int mtpLayers() {
        return integer("num_nextn_predict_layers", 0);
    }

    int vocabularySize() {
        return positive("vocab_size");
    }

    /** The FP8 scale blocks, rows × columns ({@code quantization_config.weight_block_size}; 128 × 128 if not given). */
    int[] weightBlock() {
        JsonNode block = config.path("quantization_config").path("weight_block_size");
        if (block.isMissingNode()) {
            return new int[] {128, 128};
        }
        if (!block.isArray() || block.size() != 2 || !block.get(0).canConvertToInt() || !block.get(1).canConvertToInt()
                || block.get(0).asInt() < 1 || block.get(1).asInt() < 1) {
            throw error("quantization_config.weight_block_size should be two positive integers, not " + block);
        }
        return new int[] {block.get(0).asInt(), block.get(1).asInt()};
    }

    /** The GGUF architecture of {@code model_type}: deepseek2, qwen2 or llama. */
    String architecture() {
        String type = config.path("model_type").asString("");
        return switch (type) {
            case "deepseek_v2", "deepseek_v3" -> "deepseek2";
            case "qwen2", "llama" -> type;
            default -> throw error("model_type '" + type + "' is not supported (supported: deepseek_v2, deepseek_v3,"
                    + " qwen2, llama)");
        };
    }

    /** Attention heads and, for grouped-query attention, the heads of keys and values. */
    int heads() {
        return positive("num_attention_heads");
    }

    int keyValueHeads() {
        return integer("num_key_value_heads", heads());
    }

    /** The width of a head ({@code head_dim}, else hidden size over heads). */
    int headDim() {
        return integer("head_dim", positive("hidden_size") / heads());
    }

    /**
     * The metadata of the architecture, with {@code mtpLayers} multi-token-prediction layers present
     * in the weights (DeepSeek's only).
     */
    void putMetadata(Map<String, GgufValue> out, int mtpLayers) {
        String architecture = architecture();
        if (architecture.equals("deepseek2")) {
            putDeepSeek2(out, mtpLayers);
        } else {
            putDense(out, architecture);
        }
    }

    /** Qwen2's and Llama's hyper-parameters under {@code qwen2.*} or {@code llama.*}. */
    private void putDense(Map<String, GgufValue> out, String architecture) {
        String p = architecture + ".";
        out.put("general.architecture", GgufValue.of(GgufType.STRING, architecture));
        uint(out, p + "block_count", layers());
        uint(out, p + "context_length", positive("max_position_embeddings"));
        uint(out, p + "embedding_length", positive("hidden_size"));
        uint(out, p + "feed_forward_length", positive("intermediate_size"));
        uint(out, p + "attention.head_count", heads());
        uint(out, p + "attention.head_count_kv", keyValueHeads());
        if (config.has("head_dim")) {
            uint(out, p + "attention.key_length", headDim());
            uint(out, p + "attention.value_length", headDim());
        }
        uint(out, p + "rope.dimension_count", headDim());
        real(out, p + "rope.freq_base", number("rope_theta", 10000));
        real(out, p + "attention.layer_norm_rms_epsilon", number("rms_norm_eps", 1e-6));
        JsonNode scaling = config.path("rope_scaling");
        if (!scaling.isMissingNode() && !scaling.isNull()) {
            String type = ropeScalingType(scaling);
            switch (type) {
                case "linear" -> {
                    out.put(p + "rope.scaling.type", GgufValue.of(GgufType.STRING, "linear"));
                    real(out, p + "rope.scaling.factor", scaling.path("factor").asDouble(1));
                }
                case "llama3" -> {
                    if (!architecture.equals("llama")) {
                        throw error("rope_scaling type 'llama3' is only for llama models");
                    }
                }
                default -> throw error("rope_scaling type '" + type + "' is not supported for " + architecture
                        + " (linear" + (architecture.equals("llama") ? ", llama3)" : ")"));
            }
        }
    }

    /**
     * Llama 3's rope scaling as a factor per rotary pair (the {@code rope_freqs.weight} that
     * llama.cpp's converter writes): 1 for the wavelengths shorter than the original context over
     * {@code high_freq_factor}, {@code factor} for those longer than it over {@code low_freq_factor},
     * a smooth blend between; null without llama3 scaling.
     */
    float[] llama3RopeFactors() {
        JsonNode scaling = config.path("rope_scaling");
        if (scaling.isMissingNode() || scaling.isNull() || !ropeScalingType(scaling).equals("llama3")) {
            return null;
        }
        double base = number("rope_theta", 10000);
        double factor = scaling.path("factor").asDouble(8);
        double lowFactor = scaling.path("low_freq_factor").asDouble(1);
        double highFactor = scaling.path("high_freq_factor").asDouble(4);
        double original = scaling.path("original_max_position_embeddings").asDouble(8192);
        int dim = headDim();
        float[] factors = new float[dim / 2];
        for (int i = 0; i < factors.length; i++) {
            double wavelength = 2 * Math.PI * Math.pow(base, 2.0 * i / dim);
            if (wavelength < original / highFactor) {
                factors[i] = 1;
            } else if (wavelength > original / lowFactor) {
                factors[i] = (float) factor;
            } else {
                double smooth = (original / wavelength - lowFactor) / (highFactor - lowFactor);
                factors[i] = (float) (1 / ((1 - smooth) / factor + smooth));
            }
        }
        return factors;
    }

    private static String ropeScalingType(JsonNode scaling) {
        return scaling.path("rope_type").asString(scaling.path("type").asString(""));
    }

    /** The {@code deepseek2.*} metadata. */
    private void putDeepSeek2(Map<String, GgufValue> out, int mtpLayers) {
        String p = "deepseek2.";
        out.put("general.architecture", GgufValue.of(GgufType.STRING, "deepseek2"));
        uint(out, p + "block_count", layers() + mtpLayers);
        uint(out, p + "nextn_predict_layers", mtpLayers);
        uint(out, p + "context_length", positive("max_position_embeddings"));
        uint(out, p + "embedding_length", positive("hidden_size"));
        uint(out, p + "feed_forward_length", positive("intermediate_size"));
        uint(out, p + "attention.head_count", heads());
        uint(out, p + "attention.head_count_kv", keyValueHeads());
        real(out, p + "rope.freq_base", number("rope_theta", 10000));
        real(out, p + "attention.layer_norm_rms_epsilon", number("rms_norm_eps", 1e-6));
        int qLora = integer("q_lora_rank", 0);
        if (qLora > 0) {
            uint(out, p + "attention.q_lora_rank", qLora);
        }
        uint(out, p + "attention.kv_lora_rank", positive("kv_lora_rank"));
        int rope = positive("qk_rope_head_dim");
        uint(out, p + "attention.key_length", positive("qk_nope_head_dim") + rope);
        uint(out, p + "attention.value_length", positive("v_head_dim"));
        uint(out, p + "rope.dimension_count", rope);
        uint(out, p + "leading_dense_block_count", integer("first_k_dense_replace", 0));
        uint(out, p + "expert_count", integer("n_routed_experts", 0));
        uint(out, p + "expert_used_count", integer("num_experts_per_tok", 0));
        uint(out, p + "expert_shared_count", integer("n_shared_experts", 0));
        uint(out, p + "expert_feed_forward_length", integer("moe_intermediate_size", 0));
        real(out, p + "expert_weights_scale", number("routed_scaling_factor", 1));
        out.put(p + "expert_weights_norm", GgufValue.of(GgufType.BOOL, config.path("norm_topk_prob").asBoolean(false)));
        String scoring = config.path("scoring_func").asString("softmax");
        if (!scoring.equals("softmax") && !scoring.equals("sigmoid")) {
            throw error("scoring_func '" + scoring + "' is not supported (softmax, sigmoid)");
        }
        uint(out, p + "expert_gating_func", scoring.equals("sigmoid") ? 2 : 1);
        String topk = config.path("topk_method").asString("greedy");
        switch (topk) {
            case "greedy" -> { }
            case "group_limited_greedy", "noaux_tc" -> {
                uint(out, p + "expert_group_count", positive("n_group"));
                uint(out, p + "expert_group_used_count", positive("topk_group"));
                if (topk.equals("group_limited_greedy")) {
                    out.put(DeepSeek2Config.GROUP_RANK_KEY, GgufValue.of(GgufType.STRING, "max"));
                }
            }
            default -> throw error("topk_method '" + topk + "' is not supported (greedy, group_limited_greedy, noaux_tc)");
        }
        putRopeScaling(out, p);
    }

    private void putRopeScaling(Map<String, GgufValue> out, String p) {
        JsonNode scaling = config.path("rope_scaling");
        if (scaling.isMissingNode() || scaling.isNull()) {
            return;
        }
        String type = scaling.path("type").asString(scaling.path("rope_type").asString(""));
        if (!type.equals("yarn")) {
            throw error("rope_scaling type '" + type + "' is not supported (yarn)");
        }
        out.put(p + "rope.scaling.type", GgufValue.of(GgufType.STRING, "yarn"));
        real(out, p + "rope.scaling.factor", scaling.path("factor").asDouble(1));
        uint(out, p + "rope.scaling.original_context_length",
                scaling.path("original_max_position_embeddings").asInt(positive("max_position_embeddings")));
        // As llama.cpp's converter stores it: 0.1 · mscale_all_dim.
        real(out, p + "rope.scaling.yarn_log_multiplier", 0.1 * scaling.path("mscale_all_dim").asDouble(0));
    }

    private static void uint(Map<String, GgufValue> out, String key, int value) {
        out.put(key, GgufValue.of(GgufType.UINT32, (long) value));
    }

    private static void real(Map<String, GgufValue> out, String key, double value) {
        out.put(key, GgufValue.of(GgufType.FLOAT32, (float) value));
    }

    private int positive(String key) {
        int value = integer(key, 0);
        if (value < 1) {
            throw error(config.has(key) ? key + " = " + config.get(key) + " must be a positive integer" : key + " is missing");
        }
        return value;
    }

    /** An integer entry; null and absent give {@code fallback}. */
    private int integer(String key, int fallback) {
        JsonNode v = config.path(key);
        if (v.isMissingNode() || v.isNull()) {
            return fallback;
        }
        if (!v.canConvertToInt() || !v.isIntegralNumber()) {
            throw error(key + " = " + v + " should be an integer");
        }
        return v.asInt();
    }

    private double number(String key, double fallback) {
        JsonNode v = config.path(key);
        if (v.isMissingNode() || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber()) {
            throw error(key + " = " + v + " should be a number");
        }
        return v.asDouble();
    }

    private ModelFileException error(String message) {
        return new ModelFileException(file + ": " + message);
    }
}
