package dev.fathom.tensor;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Products of weight matrices with batches of activations: {@code out[t][r] = Σ_c W[r][c] · x[t][c]}.
 *
 * <p>Two regimes. With few tokens (decode) the product is memory-bound: every weight is read
 * once, in place, by the type's fused integer dot product, and rows are split between threads.
 * With many tokens (prefill) it is compute-bound: each thread decodes a panel of rows to floats
 * once and multiplies it with every token in register tiles of 4 rows × 4 tokens (3 × 4 where
 * the CPU has 16 vector registers rather than 32: sixteen accumulators would not leave room for
 * the operands, and the JIT would spill them to the stack on every step), so that a loaded weight
 * serves four tokens and a loaded activation three or four rows. Both paths see the same
 * activation values (see {@link ActivationFormat}), so they agree to float rounding.
 */
public final class MatMul {
    /** From this many tokens on, the tiled float path beats re-reading quantized rows per token. */
    public static final int TILED_MIN_TOKENS = 4;
    /**
     * The fewest weight bytes worth a thread of their own when streaming: below that, handing rows
     * to another thread and waiting for it costs more than the caller streaming them (the small
     * matrices of a model of a few million parameters, such as the one Fathom ships).
     */
    static final long MIN_SHARE_BYTES = 64 << 10;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Rows per register tile: 4 × 4 tokens with 32 vector registers, 3 × 4 with 16 (see {@link VectorRegisters}). */
    private static final boolean REGISTERS_32 = VectorRegisters.COUNT == 32;
    private static final int TILE_ROWS = REGISTERS_32 ? 4 : 3;
    private static final int PANEL_ROWS = 4 * TILE_ROWS;

    private final Parallel parallel;
    private final float[][] panels;

    public MatMul(Parallel parallel) {
        this.parallel = parallel;
        this.panels = new float[parallel.threads()][];
    }

    public Parallel parallel() {
        return parallel;
    }

    /** {@code out[t * w.rows() + r] = W[r] · x[t]} for every token t of {@code x} and row r of {@code w}. */
    public void multiply(Matrix w, Activations x, float[] out) {
        if (x.cols() != w.cols()) {
            throw new IllegalArgumentException(w.name() + " has " + w.cols() + " columns, input has " + x.cols());
        }
        if (x.rows() >= TILED_MIN_TOKENS) {
            multiplyTiled(w, x, out);
        } else {
            multiplyStreaming(w, x, out);
        }
    }

    /**
     * Several matrices applied to the same input (the query, key and value projections; the gate
     * and up projections): {@code outs[i][t * ws[i].rows() + r] = Ws[i][r] · x[t]}. See
     * {@link #multiply(Activations[], Matrix[], float[][])}.
     */
    public void multiply(Activations x, Matrix[] ws, float[][] outs) {
        Activations[] xs = new Activations[ws.length];
        java.util.Arrays.fill(xs, x);
        multiply(xs, ws, outs);
    }

    /**
     * Several matrices, each applied to its own input (MLA's per-head projections, the experts a
     * batch routes to): {@code outs[i][t * ws[i].rows() + r] = Ws[i][r] · xs[i][t]}. With few
     * tokens, the rows of all of them are split between the threads in one section, in equal
     * shares of bytes, so that each thread streams one contiguous stretch of weights and the
     * threads meet once rather than once per matrix.
     */
    public void multiply(Activations[] xs, Matrix[] ws, float[][] outs) {
        long[] start = new long[ws.length + 1]; // byte offset of each matrix in the concatenation
        for (int i = 0; i < ws.length; i++) {
            if (xs[i].rows() >= TILED_MIN_TOKENS) {
                for (int j = 0; j < ws.length; j++) {
                    multiply(ws[j], xs[j], outs[j]);
                }
                return;
            }
            if (xs[i].cols() != ws[i].cols()) {
                throw new IllegalArgumentException(ws[i].name() + " has " + ws[i].cols() + " columns, input has " + xs[i].cols());
            }
            start[i + 1] = start[i] + ws[i].data().byteSize();
            prepare(ws[i], xs[i]);
        }
        int shares = (int) Math.clamp(start[ws.length] / MIN_SHARE_BYTES, 1, parallel.threads());
        parallel.forRange(shares, 1, (worker, from, to) -> {
            for (int share = from; share < to; share++) {
                long begin = start[ws.length] * share / shares;
                long end = start[ws.length] * (share + 1) / shares;
                for (int i = 0; i < ws.length; i++) {
                    long rowBytes = ws[i].rowBytes();
                    int first = (int) Math.clamp(Math.ceilDiv(begin - start[i], rowBytes), 0, ws[i].rows());
                    int last = (int) Math.clamp(Math.ceilDiv(end - start[i], rowBytes), 0, ws[i].rows());
                    if (first < last) {
                        rows(ws[i], xs[i], outs[i], first, last);
                    }
                }
            }
        });
    }

    /** Makes the form of {@code x} that {@code w}'s kernel reads, before a parallel section. */
    private void prepare(Matrix w, Activations x) {
        ActivationFormat format = w.kernel().activationFormat();
        if (format.quantized) {
            x.quantized(format, parallel);
        } else {
            x.floats(format, parallel);
        }
    }

    /** Rows [from, to) of {@code w} times every token of {@code x}, by the type's dot product. */
    private void rows(Matrix w, Activations x, float[] out, int from, int to) {
        WeightKernel kernel = w.kernel();
        ActivationFormat format = kernel.activationFormat();
        int tokens = x.rows();
        int rows = w.rows();
        int cols = w.cols();
        long rowBytes = w.rowBytes();
        MemorySegment data = w.data();
        float[] values = format.quantized ? null : x.floats(format, parallel);
        QuantizedVector[] q = format.quantized ? x.quantized(format, parallel) : null;
        BlockScales scales = w.scales();
        for (int r = from; r < to; r++) {
            for (int t = 0; t < tokens; t++) {
                out[t * rows + r] = scales != null
                        ? scales.dot(kernel, data, r * rowBytes, r, cols, values, t * cols)
                        : kernel.dot(data, r * rowBytes, values, t * cols, q == null ? null : q[t], cols);
            }
        }
    }

    private void multiplyStreaming(Matrix w, Activations x, float[] out) {
        prepare(w, x);
        int rows = w.rows();
        int minChunk = (int) Math.max(32, MIN_SHARE_BYTES / w.rowBytes());
        parallel.forRangeGuided(rows, minChunk, (worker, from, to) -> rows(w, x, out, from, to));
    }

    private void multiplyTiled(Matrix w, Activations x, float[] out) {
        int rows = w.rows();
        int cols = w.cols();
        int tokens = x.rows();
        float[] xs = x.floats(w.kernel().activationFormat(), parallel);
        int panelCount = Math.ceilDiv(rows, PANEL_ROWS);
        parallel.forRange(panelCount, 1, (worker, from, to) -> {
            float[] panel = panel(worker, PANEL_ROWS * cols);
            for (int p = from; p < to; p++) {
                int r0 = p * PANEL_ROWS;
                int n = Math.min(PANEL_ROWS, rows - r0);
                for (int i = 0; i < n; i++) {
                    w.dequantizeRow(r0 + i, panel, i * cols);
                }
                multiplyPanel(panel, n, r0, rows, xs, tokens, cols, out);
            }
        });
    }

    private float[] panel(int worker, int size) {
        float[] p = panels[worker];
        if (p == null || p.length < size) {
            p = new float[size];
            panels[worker] = p;
        }
        return p;
    }

    /** out[t][r0 + i] = panel[i] · xs[t] for the panel's n rows and every token. */
    private static void multiplyPanel(float[] panel, int n, int r0, int rows, float[] xs, int tokens, int cols,
            float[] out) {
        int t = 0;
        for (; t + 4 <= tokens; t += 4) {
            int i = 0;
            for (; i + TILE_ROWS <= n; i += TILE_ROWS) {
                if (REGISTERS_32) {
                    tile4x4(panel, i * cols, xs, t * cols, cols, out, t * rows + r0 + i, rows);
                } else {
                    tile3x4(panel, i * cols, xs, t * cols, cols, out, t * rows + r0 + i, rows);
                }
            }
            for (; i < n; i++) {
                for (int u = t; u < t + 4; u++) {
                    out[u * rows + r0 + i] = dot(panel, i * cols, xs, u * cols, cols);
                }
            }
        }
        for (; t < tokens; t++) {
            for (int i = 0; i < n; i++) {
                out[t * rows + r0 + i] = dot(panel, i * cols, xs, t * cols, cols);
            }
        }
    }

    /**
     * Four rows (at w, w + k, ...) times four tokens (at x, x + k, ...), sixteen accumulators held
     * in registers; writes out[o + token·stride + row].
     */
    private static void tile4x4(float[] panel, int w, float[] xs, int x, int k, float[] out, int o, int stride) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F), a33 = FloatVector.zero(F);
        int step = F.length();
        int c = 0;
        for (; c + step <= k; c += step) {
            FloatVector w0 = FloatVector.fromArray(F, panel, w + c);
            FloatVector w1 = FloatVector.fromArray(F, panel, w + k + c);
            FloatVector w2 = FloatVector.fromArray(F, panel, w + 2 * k + c);
            FloatVector w3 = FloatVector.fromArray(F, panel, w + 3 * k + c);
            FloatVector x0 = FloatVector.fromArray(F, xs, x + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, xs, x + k + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
            FloatVector x2 = FloatVector.fromArray(F, xs, x + 2 * k + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            a32 = w3.fma(x2, a32);
            FloatVector x3 = FloatVector.fromArray(F, xs, x + 3 * k + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
            a33 = w3.fma(x3, a33);
        }
        // Reduced one by one: gathering the accumulators into an array would make the JIT box them.
        int t0 = o;
        int t1 = o + stride;
        int t2 = o + 2 * stride;
        int t3 = o + 3 * stride;
        out[t0] = a00.reduceLanes(VectorOperators.ADD);
        out[t1] = a01.reduceLanes(VectorOperators.ADD);
        out[t2] = a02.reduceLanes(VectorOperators.ADD);
        out[t3] = a03.reduceLanes(VectorOperators.ADD);
        out[t0 + 1] = a10.reduceLanes(VectorOperators.ADD);
        out[t1 + 1] = a11.reduceLanes(VectorOperators.ADD);
        out[t2 + 1] = a12.reduceLanes(VectorOperators.ADD);
        out[t3 + 1] = a13.reduceLanes(VectorOperators.ADD);
        out[t0 + 2] = a20.reduceLanes(VectorOperators.ADD);
        out[t1 + 2] = a21.reduceLanes(VectorOperators.ADD);
        out[t2 + 2] = a22.reduceLanes(VectorOperators.ADD);
        out[t3 + 2] = a23.reduceLanes(VectorOperators.ADD);
        out[t0 + 3] = a30.reduceLanes(VectorOperators.ADD);
        out[t1 + 3] = a31.reduceLanes(VectorOperators.ADD);
        out[t2 + 3] = a32.reduceLanes(VectorOperators.ADD);
        out[t3 + 3] = a33.reduceLanes(VectorOperators.ADD);
        for (int cc = c; cc < k; cc++) { // columns past the last full vector
            for (int i = 0; i < 4; i++) {
                for (int t = 0; t < 4; t++) {
                    out[o + t * stride + i] += panel[w + i * k + cc] * xs[x + t * k + cc];
                }
            }
        }
    }

    /** As {@link #tile4x4}, for three rows: twelve accumulators, which 16 registers hold with the operands. */
    private static void tile3x4(float[] panel, int w, float[] xs, int x, int k, float[] out, int o, int stride) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        int step = F.length();
        int c = 0;
        for (; c + step <= k; c += step) {
            FloatVector w0 = FloatVector.fromArray(F, panel, w + c);
            FloatVector w1 = FloatVector.fromArray(F, panel, w + k + c);
            FloatVector w2 = FloatVector.fromArray(F, panel, w + 2 * k + c);
            FloatVector x0 = FloatVector.fromArray(F, xs, x + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            FloatVector x1 = FloatVector.fromArray(F, xs, x + k + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            FloatVector x2 = FloatVector.fromArray(F, xs, x + 2 * k + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            FloatVector x3 = FloatVector.fromArray(F, xs, x + 3 * k + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
        }
        int t0 = o;
        int t1 = o + stride;
        int t2 = o + 2 * stride;
        int t3 = o + 3 * stride;
        out[t0] = a00.reduceLanes(VectorOperators.ADD);
        out[t1] = a01.reduceLanes(VectorOperators.ADD);
        out[t2] = a02.reduceLanes(VectorOperators.ADD);
        out[t3] = a03.reduceLanes(VectorOperators.ADD);
        out[t0 + 1] = a10.reduceLanes(VectorOperators.ADD);
        out[t1 + 1] = a11.reduceLanes(VectorOperators.ADD);
        out[t2 + 1] = a12.reduceLanes(VectorOperators.ADD);
        out[t3 + 1] = a13.reduceLanes(VectorOperators.ADD);
        out[t0 + 2] = a20.reduceLanes(VectorOperators.ADD);
        out[t1 + 2] = a21.reduceLanes(VectorOperators.ADD);
        out[t2 + 2] = a22.reduceLanes(VectorOperators.ADD);
        out[t3 + 2] = a23.reduceLanes(VectorOperators.ADD);
        for (int cc = c; cc < k; cc++) { // columns past the last full vector
            for (int i = 0; i < 3; i++) {
                for (int t = 0; t < 4; t++) {
                    out[o + t * stride + i] += panel[w + i * k + cc] * xs[x + t * k + cc];
                }
            }
        }
    }

    private static float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        FloatVector acc = FloatVector.zero(F);
        int step = F.length();
        int i = 0;
        for (; i + step <= n; i += step) {
            acc = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += a[aOffset + i] * b[bOffset + i];
        }
        return sum;
    }
}
