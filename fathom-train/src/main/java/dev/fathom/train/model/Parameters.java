package dev.fathom.train.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Every trainable weight of a model in one buffer (and its gradients in another of the same
 * layout), as llm.c keeps them: an optimiser, a gradient norm, a checkpoint each see one array.
 * Tensors are named and shaped as GGUF names them ({@code blk.0.attn_q_a.weight}, rows × columns,
 * row-major: a matrix maps {@code columns} inputs to {@code rows} outputs), and laid out in that order.
 */
public final class Parameters {
    /** One tensor's place in the buffer; a stack of experts has {@code count} matrices. */
    public record Tensor(String name, int offset, int count, int rows, int cols) {
        public int size() {
            return count * rows * cols;
        }

        /** Where matrix {@code i} of a stack begins. */
        public int offset(int i) {
            return offset + i * rows * cols;
        }
    }

    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final double[] values;

    private Parameters(List<Tensor> layout, int size) {
        layout.forEach(t -> tensors.put(t.name(), t));
        this.values = new double[size];
    }

    /** The buffer's layout for {@code c}, every value zero. */
    public static Parameters of(ModelConfig c) {
        List<Tensor> layout = new ArrayList<>();
        int[] size = {0};
        java.util.function.BiConsumer<String, int[]> add = (name, shape) -> {
            int count = shape.length == 3 ? shape[0] : 1;
            int rows = shape[shape.length - 2];
            int cols = shape[shape.length - 1];
            layout.add(new Tensor(name, size[0], count, rows, cols));
            size[0] = Math.addExact(size[0], count * rows * cols);
        };
        int heads = c.heads();
        add.accept("token_embd.weight", new int[] {c.vocabulary(), c.dim()});
        for (int l = 0; l < c.layers(); l++) {
            String b = "blk." + l + ".";
            add.accept(b + "attn_norm.weight", new int[] {1, c.dim()});
            add.accept(b + "attn_q_a.weight", new int[] {c.queryRank(), c.dim()});
            add.accept(b + "attn_q_a_norm.weight", new int[] {1, c.queryRank()});
            add.accept(b + "attn_q_b.weight", new int[] {heads * c.keyDim(), c.queryRank()});
            add.accept(b + "attn_kv_a_mqa.weight", new int[] {c.latentRank() + c.ropeDim(), c.dim()});
            add.accept(b + "attn_kv_a_norm.weight", new int[] {1, c.latentRank()});
            add.accept(b + "attn_kv_b.weight", new int[] {heads * (c.nopeDim() + c.valueDim()), c.latentRank()});
            add.accept(b + "attn_output.weight", new int[] {c.dim(), heads * c.valueDim()});
            add.accept(b + "ffn_norm.weight", new int[] {1, c.dim()});
            if (c.moe(l)) {
                add.accept(b + "ffn_gate_inp.weight", new int[] {c.experts(), c.dim()});
                add.accept(b + "ffn_gate_exps.weight", new int[] {c.experts(), c.expertFfn(), c.dim()});
                add.accept(b + "ffn_up_exps.weight", new int[] {c.experts(), c.expertFfn(), c.dim()});
                add.accept(b + "ffn_down_exps.weight", new int[] {c.experts(), c.dim(), c.expertFfn()});
                add.accept(b + "ffn_gate_shexp.weight", new int[] {c.expertFfn(), c.dim()});
                add.accept(b + "ffn_up_shexp.weight", new int[] {c.expertFfn(), c.dim()});
                add.accept(b + "ffn_down_shexp.weight", new int[] {c.dim(), c.expertFfn()});
            } else {
                add.accept(b + "ffn_gate.weight", new int[] {c.denseFfn(), c.dim()});
                add.accept(b + "ffn_up.weight", new int[] {c.denseFfn(), c.dim()});
                add.accept(b + "ffn_down.weight", new int[] {c.dim(), c.denseFfn()});
            }
        }
        add.accept("output_norm.weight", new int[] {1, c.dim()});
        add.accept("output.weight", new int[] {c.vocabulary(), c.dim()});
        return new Parameters(layout, size[0]);
    }

    /** A buffer of the same layout, every value zero: for gradients. */
    public Parameters zerosLike() {
        return new Parameters(new ArrayList<>(tensors.values()), values.length);
    }

    /**
     * Fills the buffer for training from scratch: norms at one, matrices normal with standard
     * deviation {@code std} (the output projections of each block scaled down by √(2·layers), as
     * GPT-2 does, so the residual stream does not grow with depth).
     */
    public void initialize(ModelConfig c, double std, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (Tensor t : tensors.values()) {
            if (t.name().endsWith("norm.weight")) {
                java.util.Arrays.fill(values, t.offset(), t.offset() + t.size(), 1.0);
                continue;
            }
            boolean residual = t.name().endsWith("attn_output.weight") || t.name().contains("ffn_down");
            double s = residual ? std / Math.sqrt(2.0 * c.layers()) : std;
            for (int i = t.offset(); i < t.offset() + t.size(); i++) {
                values[i] = random.nextGaussian() * s;
            }
        }
    }

    public Tensor tensor(String name) {
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no tensor " + name);
        }
        return t;
    }

    /** The offset of {@code name} in the buffer. */
    public int at(String name) {
        return tensor(name).offset();
    }

    public List<Tensor> tensors() {
        return Collections.unmodifiableList(new ArrayList<>(tensors.values()));
    }

    /** The buffer itself. */
    public double[] values() {
        return values;
    }

    public int size() {
        return values.length;
    }
}
