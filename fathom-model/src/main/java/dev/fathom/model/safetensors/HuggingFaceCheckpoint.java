package dev.fathom.model.safetensors;

import dev.fathom.model.ModelFile;
import dev.fathom.model.ModelFileException;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.tensor.BlockScales;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A Hugging Face checkpoint directory ({@code config.json}, the safetensors shards,
 * {@code tokenizer.json}, {@code tokenizer_config.json}) of DeepSeek-V2/V3/R1, or of an R1 distill
 * (Qwen2, Llama), seen as a {@link ModelFile}: metadata translated to GGUF keys, tensors renamed
 * to GGUF names, and the weights used in place from the mapped shards, FP8 ones with their
 * {@code weight_scale_inv} block scales (f32, or V3.1's UE8M0 powers of two). The routed experts,
 * one tensor each here, appear as GGUF's stacked {@code ffn_*_exps} tensors; the
 * multi-token-prediction layers (after the main ones) under GGUF's {@code nextn} names.
 *
 * <p>Llama's query and key rows are the one exception to "in place": Hugging Face orders each
 * head's rotary pairs as (i, i + d/2), GGUF's llama as (2i, 2i + 1), so those two matrices are
 * copied with their rows reordered, as llama.cpp's converter does; Llama 3's rope scaling appears
 * as the {@code rope_freqs.weight} factors the converter computes.
 */
public final class HuggingFaceCheckpoint implements ModelFile {
    /** A tensor under its GGUF name: ggml shape (ne0 first), type, and the checkpoint tensors it is made of. */
    public record Tensor(String name, long[] shape, GgmlType type, List<String> sources, long bytes) {
        public long elements() {
            return Arrays.stream(shape).reduce(1, Math::multiplyExact);
        }
    }

    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    private static final Pattern EXPERT = Pattern.compile("mlp\\.experts\\.(\\d+)\\.(gate|up|down)_proj\\.weight");
    private static final Map<String, String> GLOBAL = Map.of(
            "model.embed_tokens.weight", "token_embd.weight",
            "model.norm.weight", "output_norm.weight",
            "lm_head.weight", "output.weight");
    private static final Map<String, String> BLOCK = Map.ofEntries(
            Map.entry("input_layernorm.weight", "attn_norm.weight"),
            Map.entry("post_attention_layernorm.weight", "ffn_norm.weight"),
            Map.entry("self_attn.q_proj.weight", "attn_q.weight"),
            Map.entry("self_attn.k_proj.weight", "attn_k.weight"),
            Map.entry("self_attn.v_proj.weight", "attn_v.weight"),
            Map.entry("self_attn.q_proj.bias", "attn_q.bias"),
            Map.entry("self_attn.k_proj.bias", "attn_k.bias"),
            Map.entry("self_attn.v_proj.bias", "attn_v.bias"),
            Map.entry("self_attn.q_a_proj.weight", "attn_q_a.weight"),
            Map.entry("self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"),
            Map.entry("self_attn.q_b_proj.weight", "attn_q_b.weight"),
            Map.entry("self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"),
            Map.entry("self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"),
            Map.entry("self_attn.kv_b_proj.weight", "attn_kv_b.weight"),
            Map.entry("self_attn.o_proj.weight", "attn_output.weight"),
            Map.entry("mlp.gate_proj.weight", "ffn_gate.weight"),
            Map.entry("mlp.up_proj.weight", "ffn_up.weight"),
            Map.entry("mlp.down_proj.weight", "ffn_down.weight"),
            Map.entry("mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"),
            Map.entry("mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"),
            Map.entry("mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"),
            Map.entry("mlp.gate.weight", "ffn_gate_inp.weight"),
            Map.entry("mlp.gate.e_score_correction_bias", "exp_probs_b.bias"));
    /** The multi-token-prediction layer's own tensors, besides an ordinary block's. */
    private static final Map<String, String> NEXTN = Map.of(
            "enorm.weight", "nextn.enorm.weight",
            "hnorm.weight", "nextn.hnorm.weight",
            "eh_proj.weight", "nextn.eh_proj.weight",
            "embed_tokens.weight", "nextn.embed_tokens.weight",
            "shared_head.norm.weight", "nextn.shared_head_norm.weight",
            "shared_head.head.weight", "nextn.shared_head_head.weight");
    private static final String SCALE = "_scale_inv";
    private static final String ROPE_FACTORS = "rope_freqs.weight";

    private final Path dir;
    private final Checkpoint checkpoint;
    private final HuggingFaceConfig config;
    private final Map<String, GgufValue> metadata;
    private final Map<String, Tensor> tensors;
    private final int[] weightBlock;
    /** Llama's query and key matrices with their rows in GGUF's order, made on first use. */
    private final Arena reordered = Arena.ofShared();

    private HuggingFaceCheckpoint(Path dir, Checkpoint checkpoint, HuggingFaceConfig config, Map<String, GgufValue> metadata,
            Map<String, Tensor> tensors) {
        this.dir = dir;
        this.checkpoint = checkpoint;
        this.config = config;
        this.metadata = metadata;
        this.tensors = tensors;
        this.weightBlock = config.architecture().equals("deepseek2") ? config.weightBlock() : null;
    }

    /** Opens the checkpoint in {@code dir}; the caller closes it to unmap the shards. */
    public static HuggingFaceCheckpoint open(Path dir) {
        Path configFile = dir.resolve("config.json");
        if (!Files.isRegularFile(configFile)) {
            throw new ModelFileException(dir + ": a directory, but not a Hugging Face checkpoint: it has no config.json");
        }
        HuggingFaceConfig config = new HuggingFaceConfig(configFile, Checkpoint.readJson(configFile));
        Checkpoint checkpoint = Checkpoint.open(dir);
        try {
            Map<String, Tensor> tensors = tensors(checkpoint, config.layers(), config.architecture());
            float[] ropeFactors = config.llama3RopeFactors();
            if (ropeFactors != null) {
                tensors.put(ROPE_FACTORS, new Tensor(ROPE_FACTORS, new long[] {ropeFactors.length}, GgmlType.F32, List.of(),
                        4L * ropeFactors.length));
            }
            int mtpLayers = 0;
            while (mtpLayers < config.mtpLayers()
                    && tensors.containsKey("blk." + (config.layers() + mtpLayers) + ".nextn.eh_proj.weight")) {
                mtpLayers++;
            }
            Map<String, GgufValue> metadata = new LinkedHashMap<>();
            config.putMetadata(metadata, mtpLayers);
            metadata.put("general.name", GgufValue.of(GgufType.STRING,
                    String.valueOf(dir.toAbsolutePath().normalize().getFileName())));
            Path tokenizer = dir.resolve("tokenizer.json");
            if (!Files.isRegularFile(tokenizer)) {
                throw new ModelFileException(dir + ": no tokenizer.json (a Hugging Face checkpoint needs its tokenizer)");
            }
            Path tokenizerConfig = dir.resolve("tokenizer_config.json");
            HuggingFaceTokenizer.putMetadata(tokenizer, Checkpoint.readJson(tokenizer), tokenizerConfig,
                    Files.isRegularFile(tokenizerConfig) ? Checkpoint.readJson(tokenizerConfig) : JSON.createObjectNode(),
                    config.vocabularySize(), metadata);
            return new HuggingFaceCheckpoint(dir, checkpoint, config, Collections.unmodifiableMap(metadata),
                    Collections.unmodifiableMap(tensors));
        } catch (RuntimeException e) {
            checkpoint.close();
            throw e;
        }
    }

    /** The checkpoint's tensors under GGUF names, the experts of a layer gathered into one. */
    private static Map<String, Tensor> tensors(Checkpoint checkpoint, int layers, String architecture) {
        Map<String, Tensor> out = new TreeMap<>(HuggingFaceCheckpoint::byLayer);
        Map<String, TreeMap<Integer, SafetensorsFile.Tensor>> experts = new LinkedHashMap<>();
        for (String source : checkpoint.names()) {
            if (source.endsWith(SCALE) || source.endsWith(".rotary_emb.inv_freq")) {
                continue; // scales travel with their weights; inverse frequencies are recomputed
            }
            SafetensorsFile.Tensor t = checkpoint.tensor(source);
            String name = GLOBAL.get(source);
            Matcher layer = LAYER.matcher(source);
            if (name == null && layer.matches()) {
                int l = Integer.parseInt(layer.group(1));
                String rest = layer.group(2);
                Matcher expert = EXPERT.matcher(rest);
                if (expert.matches()) {
                    experts.computeIfAbsent("blk." + l + ".ffn_" + expert.group(2) + "_exps.weight", k -> new TreeMap<>())
                            .put(Integer.parseInt(expert.group(1)), t);
                    continue;
                }
                String local = l >= layers && NEXTN.containsKey(rest) ? NEXTN.get(rest) : BLOCK.get(rest);
                name = local == null ? null : "blk." + l + "." + local;
            }
            if (name == null) {
                throw new ModelFileException(checkpoint.dir() + ": tensor " + source + " has no place in a " + architecture
                        + " model");
            }
            out.put(name, new Tensor(name, reversed(t.shape()), type(checkpoint, t), List.of(source), bytes(checkpoint, t)));
        }
        experts.forEach((name, byIndex) -> {
            SafetensorsFile.Tensor first = byIndex.firstEntry().getValue();
            List<String> sources = new ArrayList<>();
            long bytes = 0;
            for (int e = 0; e < byIndex.size(); e++) {
                SafetensorsFile.Tensor t = byIndex.get(e);
                if (t == null) {
                    throw new ModelFileException(checkpoint.dir() + ": " + name + " lacks expert " + e + " of "
                            + (byIndex.lastKey() + 1));
                }
                if (!Arrays.equals(t.shape(), first.shape()) || t.dtype() != first.dtype()) {
                    throw new ModelFileException(checkpoint.dir() + ": tensor " + t.name() + " (" + t.dtype() + " "
                            + Arrays.toString(t.shape()) + ") differs from " + first.name() + " (" + first.dtype() + " "
                            + Arrays.toString(first.shape()) + ")");
                }
                sources.add(t.name());
                bytes += bytes(checkpoint, t);
            }
            long[] shape = {first.shape()[1], first.shape()[0], byIndex.size()};
            out.put(name, new Tensor(name, shape, type(checkpoint, first), List.copyOf(sources), bytes));
        });
        return out;
    }

    /** GGUF's order: global tensors first, then blocks by number, each block's tensors by name. */
    private static int byLayer(String a, String b) {
        int la = a.startsWith("blk.") ? Integer.parseInt(a.substring(4, a.indexOf('.', 4))) : -1;
        int lb = b.startsWith("blk.") ? Integer.parseInt(b.substring(4, b.indexOf('.', 4))) : -1;
        return la != lb ? Integer.compare(la, lb) : a.compareTo(b);
    }

    private static GgmlType type(Checkpoint checkpoint, SafetensorsFile.Tensor t) {
        return switch (t.dtype()) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            case F8_E4M3 -> GgmlType.F8_E4M3;
            default -> throw new ModelFileException(checkpoint.dir() + ": tensor " + t.name() + " has dtype " + t.dtype()
                    + ", which Fathom does not support (supported: F32, F16, BF16, F8_E4M3)");
        };
    }

    /** A weight's bytes with its scales. */
    private static long bytes(Checkpoint checkpoint, SafetensorsFile.Tensor t) {
        SafetensorsFile.Tensor scales = checkpoint.tensor(t.name() + SCALE);
        return t.bytes() + (scales == null ? 0 : scales.bytes());
    }

    private static long[] reversed(long[] shape) {
        long[] r = new long[shape.length];
        for (int i = 0; i < shape.length; i++) {
            r[i] = shape[shape.length - 1 - i];
        }
        return r;
    }

    /** The tensors under their GGUF names, in GGUF's order. */
    public List<Tensor> tensors() {
        return List.copyOf(tensors.values());
    }

    /** How many safetensors files hold the weights. */
    public int shards() {
        return checkpoint.shards();
    }

    @Override
    public Path path() {
        return dir;
    }

    @Override
    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    @Override
    public boolean hasTensor(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public Matrix matrix(String name, long cols, long rows) {
        Tensor t = require(name, new long[] {cols, rows});
        Matrix m = matrix(name, t.sources().getFirst(), (int) rows, (int) cols);
        if (config.architecture().equals("llama") && name.matches("blk\\.\\d+\\.attn_[qk]\\.weight")) {
            return rotaryPairsInGgufOrder(m, name.endsWith("attn_q.weight") ? config.heads() : config.keyValueHeads());
        }
        return m;
    }

    /**
     * A copy of {@code m} with each head's rows reordered from Hugging Face's rotary layout (pair i
     * is rows i and i + d/2) to GGUF's llama layout (rows 2i and 2i + 1).
     */
    private Matrix rotaryPairsInGgufOrder(Matrix m, int heads) {
        if (m.type() == GgmlType.F8_E4M3) {
            throw error("tensor " + m.name() + " is FP8, whose block scales a reordering of rows would break;"
                    + " Fathom reads llama checkpoints in F32, F16 or BF16");
        }
        int d = m.rows() / heads;
        long rowBytes = m.type().bytesFor(m.cols());
        MemorySegment out = reordered.allocate(rowBytes * m.rows(), 64);
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < d / 2; i++) {
                for (int k = 0; k < 2; k++) {
                    long from = (long) (h * d + k * (d / 2) + i) * rowBytes;
                    long to = (long) (h * d + 2 * i + k) * rowBytes;
                    MemorySegment.copy(m.data(), from, out, to, rowBytes);
                }
            }
        }
        return new Matrix(m.name(), m.type(), out, m.rows(), m.cols());
    }

    @Override
    public Matrix[] matrices(String name, long cols, long rows, int count) {
        Tensor t = require(name, new long[] {cols, rows, count});
        Matrix[] out = new Matrix[count];
        for (int i = 0; i < count; i++) {
            out[i] = matrix(name + "[" + i + "]", t.sources().get(i), (int) rows, (int) cols);
        }
        return out;
    }

    @Override
    public float[] vector(String name, long n) {
        Tensor t = require(name, new long[] {n});
        if (name.equals(ROPE_FACTORS)) {
            return config.llama3RopeFactors();
        }
        if (t.type() == GgmlType.F8_E4M3) {
            throw error("tensor " + t.sources().getFirst() + " is FP8; Fathom reads only weight matrices in FP8");
        }
        float[] out = new float[(int) n];
        WeightKernel.of(t.type()).dequantize(checkpoint.data(t.sources().getFirst()), 0, out, 0, (int) n);
        return out;
    }

    private Tensor require(String name, long[] shape) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw error("required tensor " + name + " is missing");
        }
        if (!Arrays.equals(t.shape(), shape)) {
            throw error("tensor " + String.join(", ", t.sources().size() > 1 ? List.of(t.sources().getFirst() + ", ...")
                    : t.sources()) + " (" + name + ") has shape " + Arrays.toString(t.shape()) + " (ggml order), expected "
                    + Arrays.toString(shape));
        }
        return t;
    }

    /** Checkpoint tensor {@code source} as a matrix, with its block scales if it is FP8. */
    private Matrix matrix(String name, String source, int rows, int cols) {
        SafetensorsFile.Tensor t = checkpoint.tensor(source);
        GgmlType type = type(checkpoint, t);
        return new Matrix(name, type, checkpoint.data(source), rows, cols,
                type == GgmlType.F8_E4M3 ? scales(source, rows, cols) : null);
    }

    /** The {@code weight_scale_inv} of an FP8 weight: f32, bf16, f16, or UE8M0 exponents. */
    private BlockScales scales(String weight, int rows, int cols) {
        String name = weight + SCALE;
        SafetensorsFile.Tensor t = checkpoint.tensor(name);
        if (t == null) {
            throw error("FP8 tensor " + weight + " has no " + name);
        }
        long[] expected = {Math.ceilDiv(rows, weightBlock[0]), Math.ceilDiv(cols, weightBlock[1])};
        if (!Arrays.equals(t.shape(), expected)) {
            throw error("tensor " + name + " has shape " + Arrays.toString(t.shape()) + ", but " + rows + " × " + cols
                    + " weights in blocks of " + weightBlock[0] + " × " + weightBlock[1] + " need " + Arrays.toString(expected));
        }
        MemorySegment data = checkpoint.data(name);
        float[] values = new float[(int) t.elements()];
        switch (t.dtype()) {
            case F32, BF16, F16 -> WeightKernel.of(type(checkpoint, t)).dequantize(data, 0, values, 0, values.length);
            case F8_E8M0 -> {
                for (int i = 0; i < values.length; i++) {
                    int exponent = Byte.toUnsignedInt(data.get(ValueLayout.JAVA_BYTE, i));
                    if (exponent == 0xFF) {
                        throw error("tensor " + name + " holds the UE8M0 NaN code at element " + i);
                    }
                    values[i] = Math.scalb(1f, exponent - 127);
                }
            }
            default -> throw error("tensor " + name + " has dtype " + t.dtype()
                    + ", which Fathom does not support for scales (supported: F32, BF16, F16, F8_E8M0)");
        }
        return new BlockScales(values, weightBlock[0], weightBlock[1]);
    }

    @Override
    public void close() {
        reordered.close();
        checkpoint.close();
    }
}
