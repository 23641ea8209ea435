package dev.fathom.tensor;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.MemorySegment;

/**
 * Products of weight matrices with batches of activations: {@code out[t][r] = Σ_c W[r][c] · x[t][c]}.
 *
 * <p>Three regimes. With one token (decode) the product is memory-bound: every weight is read
 * once, in place, by the type's fused integer dot product, and rows are split between threads,
 * each handing its stretch to the kernel at once ({@link WeightKernel#dotRows}, which Q4_K takes
 * two rows at a time); two tokens (a draft being checked) get exactly that product each, from
 * one decoding of each block where the type's decoding is costly ({@link WeightKernel#dotPair}),
 * and such types take tokens two by two up to a dozen. With a few more (a server's batch of
 * streams), types that have it decode each block once to floats in registers for four
 * tokens at a time ({@link WeightKernel#dotFew}, two rows at a time for long rows); the others
 * take each token's dot product. With many tokens (prefill) it is compute-bound: each thread
 * decodes a panel of rows to floats once and multiplies it with every token in register tiles
 * ({@link FloatTiles#products}), so that a loaded weight serves four tokens and a loaded
 * activation three or four rows. All paths see the same activation values (see
 * {@link ActivationFormat}), so they agree to float rounding.
 */
public final class MatMul {
    /**
     * From this many tokens on, the tiled float path beats re-reading quantized rows per token,
     * for the types with neither a few-token product ({@link WeightKernel#multipliesFewTokens()})
     * nor pairs that share decoding.
     */
    public static final int TILED_MIN_TOKENS = 4;
    /**
     * From this many tokens on, the tiled path beats {@link WeightKernel#dotFew}, which decodes
     * each row once per group of {@link WeightKernel#FEW_TOKENS}. Q8_0 at 8960 × 1536 on two
     * threads: 8 tokens 2.0 ms few at a time against 2.3-2.6 ms tiled, 12 tokens 2.9 ms either way.
     */
    static final int FEW_TILED_MIN_TOKENS = 2 * WeightKernel.FEW_TOKENS + 1;
    /**
     * From this many tokens on, the tiled path beats pairs of tokens for the types whose pairs
     * share each block's decoding ({@link WeightKernel#pairsShareDecoding()}). 8960 × 1536 on
     * two threads, pairs against tiled: Q4_K 4 tokens 0.71 against 1.76 ms, 8 tokens 1.46 against
     * 2.31, 12 tokens 2.67 against 2.82, 16 tokens 3.92 against 3.43; Q6_K 4 tokens 0.84 against
     * 2.83, 12 tokens 3.75 against 4.09, 32 tokens 9.5 against 7.3.
     */
    static final int PAIRED_TILED_MIN_TOKENS = 12;
    /**
     * The fewest tokens that take {@link WeightKernel#dotFew}. Two tokens keep each token's
     * integer dot product, bit for bit what one token gets: speculative decoding checks a draft
     * in a step of two, and its replies must be exactly those of decoding token by token.
     */
    static final int FEW_MIN_TOKENS = 3;
    /**
     * The fewest weight bytes worth a thread of their own when streaming: below that, handing rows
     * to another thread and waiting for it costs more than the caller streaming them (the small
     * matrices of a model of a few million parameters, such as the one Fathom ships).
     */
    static final long MIN_SHARE_BYTES = 64 << 10;
    private static final int PANEL_ROWS = 4 * FloatTiles.TILE_ROWS;
    /** Rows that meet one group of a few tokens after another ({@link #rows}): 52 KB of Q8_0 weights at 1536 columns. */
    private static final int FEW_STRETCH_ROWS = 32;
    /**
     * From this many columns on, few tokens meet two rows at a time ({@link WeightKernel#dotFewRows}):
     * four tokens' activations (64 KiB here) then outgrow the first-level cache, and a loaded
     * activation vector serving two rows halves those loads. On the 1.5B shape in Q8_0, whose
     * down projections have 8960 columns, a decode step of 4 sequences took 3-10% less time and
     * one of 8 sequences 1-5% less (in-process A/B, 60 steps a side); pairs of short rows
     * gained nothing.
     */
    static final int FEW_ROW_PAIRS_MIN_COLS = 4096;

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
        if (x.rows() >= tiledMinTokens(w.kernel())) {
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
            if (xs[i].rows() >= tiledMinTokens(ws[i].kernel())) {
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

    /** The fewest tokens for which the tiled path beats the streaming one with {@code kernel}. */
    static int tiledMinTokens(WeightKernel kernel) {
        if (kernel.multipliesFewTokens()) {
            return FEW_TILED_MIN_TOKENS;
        }
        return kernel.pairsShareDecoding() ? PAIRED_TILED_MIN_TOKENS : TILED_MIN_TOKENS;
    }

    /** Whether rows of {@code w} meet the tokens of {@code x} by {@link WeightKernel#dotFew}. */
    private static boolean few(Matrix w, Activations x) {
        return x.rows() >= FEW_MIN_TOKENS && w.kernel().multipliesFewTokens() && w.scales() == null;
    }

    /** Makes the form of {@code x} that {@code w}'s kernel reads, before a parallel section. */
    private void prepare(Matrix w, Activations x) {
        ActivationFormat format = w.kernel().activationFormat();
        if (few(w, x)) {
            x.floats(format, parallel);
        } else if (format.quantized) {
            x.quantized(format, parallel);
        } else {
            x.floats(format, parallel);
        }
    }

    /**
     * Rows [from, to) times {@code tokens} (at most {@link WeightKernel#FEW_TOKENS}) tokens from
     * {@code x[xAt]}, results from {@code out[outAt + r]}. Long rows go two at a time, the rows
     * of a pair half the stretch apart: with neighbouring rows interleaved, a decode step took
     * 20% longer.
     */
    private static void fewTokens(WeightKernel kernel, MemorySegment data, long rowBytes, int from, int to, float[] x, int xAt,
            int tokens, float[] out, int outAt, int outStride, int cols) {
        int r = from;
        if (cols >= FEW_ROW_PAIRS_MIN_COLS) {
            int half = (to - from) / 2;
            for (; r < from + half; r++) {
                kernel.dotFewRows(data, r * rowBytes, half * rowBytes, x, xAt, cols, tokens, out, outAt + r, half,
                        outStride, cols);
            }
            r = from + 2 * half;
        }
        for (; r < to; r++) {
            kernel.dotFew(data, r * rowBytes, x, xAt, cols, tokens, out, outAt + r, outStride, cols);
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
        if (few(w, x)) {
            float[] xs = x.floats(format, parallel);
            int start = x.floatsStart(format);
            int count = Math.min(WeightKernel.FEW_TOKENS, tokens);
            // A stretch of rows meets one group of tokens after another, so that the group's
            // activations stay in the first-level cache while the stretch's weights come from
            // the second. The last group ends at the last token, overlapping the one before.
            for (int stretch = from; stretch < to; stretch += FEW_STRETCH_ROWS) {
                int end = Math.min(to, stretch + FEW_STRETCH_ROWS);
                for (int t = 0; t < tokens; t += count) {
                    int first = Math.min(t, tokens - count);
                    fewTokens(kernel, data, rowBytes, stretch, end, xs, start + first * cols, count, out, first * rows, rows, cols);
                }
            }
            return;
        }
        float[] values = format.quantized ? null : x.floats(format, parallel);
        int start = format.quantized ? 0 : x.floatsStart(format);
        QuantizedVector[] q = format.quantized ? x.quantized(format, parallel) : null;
        BlockScales scales = w.scales();
        if (scales != null) {
            for (int r = from; r < to; r++) {
                for (int t = 0; t < tokens; t++) {
                    out[t * rows + r] = scales.dot(kernel, data, r * rowBytes, r, cols, values, start + t * cols);
                }
            }
            return;
        }
        int paired = q != null ? tokens & ~1 : 0;
        if (paired > 0) {
            for (int r = from; r < to; r++) {
                for (int t = 0; t < paired; t += 2) {
                    kernel.dotPair(data, r * rowBytes, q[t], q[t + 1], cols, out, t * rows + r, (t + 1) * rows + r);
                }
            }
        }
        // The token left without a pair (the only one, in a decode step) meets the rows all at once.
        for (int t = paired; t < tokens; t++) {
            kernel.dotRows(data, from * rowBytes, rowBytes, to - from, values, start + t * cols, q == null ? null : q[t], cols,
                    out, t * rows + from);
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
        ActivationFormat format = w.kernel().activationFormat();
        float[] xs = x.floats(format, parallel);
        int start = x.floatsStart(format);
        int panelCount = Math.ceilDiv(rows, PANEL_ROWS);
        parallel.forRange(panelCount, 1, (worker, from, to) -> {
            float[] panel = panel(worker, PANEL_ROWS * cols + CacheLines.FLOATS);
            int at = CacheLines.firstAligned(panel); // rows from a cache line, as the activations' are
            for (int p = from; p < to; p++) {
                int r0 = p * PANEL_ROWS;
                int n = Math.min(PANEL_ROWS, rows - r0);
                for (int i = 0; i < n; i++) {
                    w.dequantizeRow(r0 + i, panel, at + i * cols);
                }
                FloatTiles.products(xs, start, cols, tokens, panel, at, cols, n, cols, out, r0, rows);
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

}
