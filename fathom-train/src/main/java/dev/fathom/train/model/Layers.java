package dev.fathom.train.model;

import dev.fathom.tensor.Parallel;
import dev.fathom.tensor.VectorRegisters;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The forward and backward passes of the layers a DeepSeek block is made of, over row-major
 * double arrays: one row per token. A backward pass adds its gradients to what its arrays hold
 * (a tensor used twice gets the sum), and reads only what its forward pass kept. Each one is
 * checked against central differences in {@code LayersTest}.
 */
final class Layers {
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private Layers() {
    }

    private static final int LANES = D.length();

    /**
     * {@code lanes[at] + lanes[at + 1] + ...}, one vector's worth, in lane order. The tiles store
     * their accumulators and sum them here rather than with {@code reduceLanes(ADD)}, which leaves
     * the order open: C2 adds in another order than the interpreter, so a run's first steps
     * (interpreted) and its later ones would round differently, and two runs from one seed would
     * part in the last digit at the first step. (A helper that takes the vector itself is not
     * inlined into the tiles, and C2 then boxes every accumulator.)
     */
    private static double sumOfLanes(double[] lanes, int at) {
        double sum = 0;
        for (int i = 0; i < LANES; i++) {
            sum += lanes[at + i];
        }
        return sum;
    }

    /** Outputs per register tile: 4 with 32 vector registers, 3 with 16 (sixteen accumulators would spill). */
    private static final int TILE_OUTPUTS = VectorRegisters.COUNT == 32 ? 4 : 3;

    /**
     * {@code out[t][o] = Σ_i x[t][i] · W[o][i]} for n tokens; W is {@code outs × ins} at {@code w[wAt]}.
     * In tiles of 4 tokens × 4 outputs (× 3 on CPUs with 16 vector registers): each loaded vector
     * of x serves several rows of W and each of W four tokens. Every output is summed in the same
     * order whatever the tile, so the tiling never changes a result.
     */
    static void matmul(Parallel parallel, double[] out, double[] x, int n, int ins, double[] w, int wAt, int outs) {
        parallel.forRange(Math.ceilDiv(n, 4), 1, (worker, from, to) -> {
            double[] lanes = new double[16 * LANES];
            for (int block = from; block < to; block++) {
                int t = block * 4;
                dotRows(x, t * ins, Math.min(4, n - t), ins, w, wAt, outs, out, t * outs, outs, lanes);
            }
        });
    }

    /**
     * {@code out[outAt + i·outStride + o] = dot(x row i, w row o)} for i < rows and o < outs, where
     * x's rows start at xAt and w's at wAt, k apart: in register tiles when rows is 4.
     */
    private static void dotRows(double[] x, int xAt, int rows, int k, double[] w, int wAt, int outs, double[] out,
            int outAt, int outStride, double[] lanes) {
        int o = 0;
        if (rows == 4) {
            for (; o + TILE_OUTPUTS <= outs; o += TILE_OUTPUTS) {
                if (TILE_OUTPUTS == 4) {
                    dots4x4(x, xAt, w, wAt + o * k, k, out, outAt + o, outStride, lanes);
                } else {
                    dots4x3(x, xAt, w, wAt + o * k, k, out, outAt + o, outStride, lanes);
                }
            }
        }
        for (int i = 0; i < rows; i++) {
            for (int r = o; r < outs; r++) {
                out[outAt + i * outStride + r] = dot(x, xAt + i * k, w, wAt + r * k, k);
            }
        }
    }

    /** Sixteen dot products: rows a, a + k, a + 2k, a + 3k against rows b, b + k, ...; {@code out[o + i·stride + j]}. */
    private static void dots4x4(double[] x, int a, double[] w, int b, int k, double[] out, int o, int stride,
            double[] lanes) {
        DoubleVector s00 = DoubleVector.zero(D), s01 = DoubleVector.zero(D), s02 = DoubleVector.zero(D), s03 = DoubleVector.zero(D);
        DoubleVector s10 = DoubleVector.zero(D), s11 = DoubleVector.zero(D), s12 = DoubleVector.zero(D), s13 = DoubleVector.zero(D);
        DoubleVector s20 = DoubleVector.zero(D), s21 = DoubleVector.zero(D), s22 = DoubleVector.zero(D), s23 = DoubleVector.zero(D);
        DoubleVector s30 = DoubleVector.zero(D), s31 = DoubleVector.zero(D), s32 = DoubleVector.zero(D), s33 = DoubleVector.zero(D);
        int step = D.length();
        int c = 0;
        for (; c + step <= k; c += step) {
            DoubleVector w0 = DoubleVector.fromArray(D, w, b + c);
            DoubleVector w1 = DoubleVector.fromArray(D, w, b + k + c);
            DoubleVector w2 = DoubleVector.fromArray(D, w, b + 2 * k + c);
            DoubleVector w3 = DoubleVector.fromArray(D, w, b + 3 * k + c);
            DoubleVector x0 = DoubleVector.fromArray(D, x, a + c);
            s00 = x0.fma(w0, s00);
            s01 = x0.fma(w1, s01);
            s02 = x0.fma(w2, s02);
            s03 = x0.fma(w3, s03);
            DoubleVector x1 = DoubleVector.fromArray(D, x, a + k + c);
            s10 = x1.fma(w0, s10);
            s11 = x1.fma(w1, s11);
            s12 = x1.fma(w2, s12);
            s13 = x1.fma(w3, s13);
            DoubleVector x2 = DoubleVector.fromArray(D, x, a + 2 * k + c);
            s20 = x2.fma(w0, s20);
            s21 = x2.fma(w1, s21);
            s22 = x2.fma(w2, s22);
            s23 = x2.fma(w3, s23);
            DoubleVector x3 = DoubleVector.fromArray(D, x, a + 3 * k + c);
            s30 = x3.fma(w0, s30);
            s31 = x3.fma(w1, s31);
            s32 = x3.fma(w2, s32);
            s33 = x3.fma(w3, s33);
        }
        s00.intoArray(lanes, 0); s01.intoArray(lanes, step); s02.intoArray(lanes, 2 * step); s03.intoArray(lanes, 3 * step);
        s10.intoArray(lanes, 4 * step); s11.intoArray(lanes, 5 * step); s12.intoArray(lanes, 6 * step); s13.intoArray(lanes, 7 * step);
        s20.intoArray(lanes, 8 * step); s21.intoArray(lanes, 9 * step); s22.intoArray(lanes, 10 * step); s23.intoArray(lanes, 11 * step);
        s30.intoArray(lanes, 12 * step); s31.intoArray(lanes, 13 * step); s32.intoArray(lanes, 14 * step); s33.intoArray(lanes, 15 * step);
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                out[o + i * stride + j] = sumOfLanes(lanes, (4 * i + j) * step);
            }
        }
        for (; c < k; c++) { // columns past the last whole vector
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    out[o + i * stride + j] += x[a + i * k + c] * w[b + j * k + c];
                }
            }
        }
    }

    /** As {@link #dots4x4}, against three rows of W: twelve accumulators, which 16 registers hold with the operands. */
    private static void dots4x3(double[] x, int a, double[] w, int b, int k, double[] out, int o, int stride,
            double[] lanes) {
        DoubleVector s00 = DoubleVector.zero(D), s01 = DoubleVector.zero(D), s02 = DoubleVector.zero(D);
        DoubleVector s10 = DoubleVector.zero(D), s11 = DoubleVector.zero(D), s12 = DoubleVector.zero(D);
        DoubleVector s20 = DoubleVector.zero(D), s21 = DoubleVector.zero(D), s22 = DoubleVector.zero(D);
        DoubleVector s30 = DoubleVector.zero(D), s31 = DoubleVector.zero(D), s32 = DoubleVector.zero(D);
        int step = D.length();
        int c = 0;
        for (; c + step <= k; c += step) {
            DoubleVector w0 = DoubleVector.fromArray(D, w, b + c);
            DoubleVector w1 = DoubleVector.fromArray(D, w, b + k + c);
            DoubleVector w2 = DoubleVector.fromArray(D, w, b + 2 * k + c);
            DoubleVector x0 = DoubleVector.fromArray(D, x, a + c);
            s00 = x0.fma(w0, s00);
            s01 = x0.fma(w1, s01);
            s02 = x0.fma(w2, s02);
            DoubleVector x1 = DoubleVector.fromArray(D, x, a + k + c);
            s10 = x1.fma(w0, s10);
            s11 = x1.fma(w1, s11);
            s12 = x1.fma(w2, s12);
            DoubleVector x2 = DoubleVector.fromArray(D, x, a + 2 * k + c);
            s20 = x2.fma(w0, s20);
            s21 = x2.fma(w1, s21);
            s22 = x2.fma(w2, s22);
            DoubleVector x3 = DoubleVector.fromArray(D, x, a + 3 * k + c);
            s30 = x3.fma(w0, s30);
            s31 = x3.fma(w1, s31);
            s32 = x3.fma(w2, s32);
        }
        s00.intoArray(lanes, 0); s01.intoArray(lanes, step); s02.intoArray(lanes, 2 * step); s10.intoArray(lanes, 3 * step);
        s11.intoArray(lanes, 4 * step); s12.intoArray(lanes, 5 * step); s20.intoArray(lanes, 6 * step); s21.intoArray(lanes, 7 * step);
        s22.intoArray(lanes, 8 * step); s30.intoArray(lanes, 9 * step); s31.intoArray(lanes, 10 * step); s32.intoArray(lanes, 11 * step);
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 3; j++) {
                out[o + i * stride + j] = sumOfLanes(lanes, (3 * i + j) * step);
            }
        }
        for (; c < k; c++) { // columns past the last whole vector
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 3; j++) {
                    out[o + i * stride + j] += x[a + i * k + c] * w[b + j * k + c];
                }
            }
        }
    }

    /**
     * Tokens dW takes at a time: each row of dW sums over them in token order, as over all at
     * once, while their rows of x (128 KB at 128 columns) stay in the cache (1.15x a training step).
     */
    private static final int TOKEN_CHUNK = 128;

    /**
     * The backward pass of {@link #matmul}: {@code dx += dout · W} (unless {@code dx} is null)
     * and {@code dW += doutᵀ · x}. Both walk the shared dimension with a few rows of the result
     * in registers: four tokens of dx at a time, four rows of dW at a time.
     */
    static void matmulBackward(Parallel parallel, double[] dout, double[] x, int n, int ins, double[] w, int wAt,
            int outs, double[] dx, double[] dw, int dwAt) {
        if (dx != null) {
            parallel.forRange(Math.ceilDiv(n, 4), 1, (worker, from, to) -> {
                for (int block = from; block < to; block++) {
                    int t = block * 4;
                    if (t + 4 <= n) {
                        accumulate4(dout, t * outs, 1, outs, w, wAt, ins, outs, dx, t * ins);
                    } else {
                        for (int u = t; u < n; u++) {
                            for (int o = 0; o < outs; o++) {
                                axpy(dout[u * outs + o], w, wAt + o * ins, dx, u * ins, ins);
                            }
                        }
                    }
                }
            });
        }
        parallel.forRange(Math.ceilDiv(outs, 4), 1, (worker, from, to) -> {
            for (int t0 = 0; t0 < n; t0 += TOKEN_CHUNK) { // the chunk's rows of x stay in the cache for all of dW
                int tokens = Math.min(TOKEN_CHUNK, n - t0);
                for (int block = from; block < to; block++) {
                    int o = block * 4;
                    if (o + 4 <= outs) {
                        accumulate4(dout, t0 * outs + o, outs, 1, x, t0 * ins, ins, tokens, dw, dwAt + o * ins);
                    } else {
                        for (int r = o; r < outs; r++) {
                            for (int t = t0; t < t0 + tokens; t++) {
                                axpy(dout[t * outs + r], x, t * ins, dw, dwAt + r * ins, ins);
                            }
                        }
                    }
                }
            }
        });
    }

    /**
     * Four rows of a product, added to {@code y[yAt + i·width ..]} for i < 4:
     * {@code y[i][c] += Σ_s coef[cAt + i·rowStep + s·sStep] · m[mAt + s·width + c]} over s < steps,
     * c < width; the rows' accumulators for a stretch of two vectors stay in registers. Each
     * element gets the same sums, in the same order, as {@link #axpy} over s would give it (axpy
     * skips a zero coefficient, whose product changes no sum but a zero's sign).
     */
    private static void accumulate4(double[] coef, int cAt, int sStep, int rowStep, double[] m, int mAt, int width,
            int steps, double[] y, int yAt) {
        int step = D.length();
        int c = 0;
        for (; c + 2 * step <= width; c += 2 * step) {
            DoubleVector a0 = DoubleVector.fromArray(D, y, yAt + c), b0 = DoubleVector.fromArray(D, y, yAt + c + step);
            DoubleVector a1 = DoubleVector.fromArray(D, y, yAt + width + c), b1 = DoubleVector.fromArray(D, y, yAt + width + c + step);
            DoubleVector a2 = DoubleVector.fromArray(D, y, yAt + 2 * width + c), b2 = DoubleVector.fromArray(D, y, yAt + 2 * width + c + step);
            DoubleVector a3 = DoubleVector.fromArray(D, y, yAt + 3 * width + c), b3 = DoubleVector.fromArray(D, y, yAt + 3 * width + c + step);
            for (int s = 0; s < steps; s++) {
                int at = mAt + s * width + c;
                DoubleVector m0 = DoubleVector.fromArray(D, m, at);
                DoubleVector m1 = DoubleVector.fromArray(D, m, at + step);
                int k = cAt + s * sStep;
                DoubleVector f0 = DoubleVector.broadcast(D, coef[k]);
                a0 = m0.fma(f0, a0);
                b0 = m1.fma(f0, b0);
                DoubleVector f1 = DoubleVector.broadcast(D, coef[k + rowStep]);
                a1 = m0.fma(f1, a1);
                b1 = m1.fma(f1, b1);
                DoubleVector f2 = DoubleVector.broadcast(D, coef[k + 2 * rowStep]);
                a2 = m0.fma(f2, a2);
                b2 = m1.fma(f2, b2);
                DoubleVector f3 = DoubleVector.broadcast(D, coef[k + 3 * rowStep]);
                a3 = m0.fma(f3, a3);
                b3 = m1.fma(f3, b3);
            }
            a0.intoArray(y, yAt + c);
            b0.intoArray(y, yAt + c + step);
            a1.intoArray(y, yAt + width + c);
            b1.intoArray(y, yAt + width + c + step);
            a2.intoArray(y, yAt + 2 * width + c);
            b2.intoArray(y, yAt + 2 * width + c + step);
            a3.intoArray(y, yAt + 3 * width + c);
            b3.intoArray(y, yAt + 3 * width + c + step);
        }
        for (; c + step <= width; c += step) { // one vector past the last pair
            DoubleVector a0 = DoubleVector.fromArray(D, y, yAt + c);
            DoubleVector a1 = DoubleVector.fromArray(D, y, yAt + width + c);
            DoubleVector a2 = DoubleVector.fromArray(D, y, yAt + 2 * width + c);
            DoubleVector a3 = DoubleVector.fromArray(D, y, yAt + 3 * width + c);
            for (int s = 0; s < steps; s++) {
                DoubleVector m0 = DoubleVector.fromArray(D, m, mAt + s * width + c);
                int k = cAt + s * sStep;
                a0 = m0.fma(DoubleVector.broadcast(D, coef[k]), a0);
                a1 = m0.fma(DoubleVector.broadcast(D, coef[k + rowStep]), a1);
                a2 = m0.fma(DoubleVector.broadcast(D, coef[k + 2 * rowStep]), a2);
                a3 = m0.fma(DoubleVector.broadcast(D, coef[k + 3 * rowStep]), a3);
            }
            a0.intoArray(y, yAt + c);
            a1.intoArray(y, yAt + width + c);
            a2.intoArray(y, yAt + 2 * width + c);
            a3.intoArray(y, yAt + 3 * width + c);
        }
        for (; c < width; c++) { // columns past the last whole vector
            for (int s = 0; s < steps; s++) {
                double v = m[mAt + s * width + c];
                int k = cAt + s * sStep;
                for (int i = 0; i < 4; i++) {
                    y[yAt + i * width + c] += coef[k + i * rowStep] * v;
                }
            }
        }
    }

    /** Rows, columns (a stretch of every row) or elements that one task of the element-wise layers takes. */
    private static final int ROWS = 64, COLUMNS = 16, ELEMENTS = 8192;

    /** {@code out = x / rms(x) · weight}, row by row; keeps each row's 1/rms in {@code rstd}. */
    static void rmsNorm(Parallel parallel, double[] out, double[] x, int n, int d, double[] w, int wAt, double[] rstd) {
        parallel.forRange(Math.ceilDiv(n, ROWS), 1, (worker, from, to) -> {
            for (int t = from * ROWS; t < Math.min(n, to * ROWS); t++) {
                double sum = 0;
                for (int j = 0; j < d; j++) {
                    sum += x[t * d + j] * x[t * d + j];
                }
                double r = 1 / Math.sqrt(sum / d + ModelConfig.NORM_EPS);
                rstd[t] = r;
                for (int j = 0; j < d; j++) {
                    out[t * d + j] = x[t * d + j] * r * w[wAt + j];
                }
            }
        });
    }

    /** The backward pass of {@link #rmsNorm}: dx row by row, then dw column by column (its sums in token order). */
    static void rmsNormBackward(Parallel parallel, double[] dout, double[] x, int n, int d, double[] w, int wAt,
            double[] rstd, double[] dx, double[] dw, int dwAt) {
        parallel.forRange(Math.ceilDiv(n, ROWS), 1, (worker, from, to) -> {
            for (int t = from * ROWS; t < Math.min(n, to * ROWS); t++) {
                double r = rstd[t];
                double dot = 0; // Σ_j dxhat_j · xhat_j
                for (int j = 0; j < d; j++) {
                    dot += dout[t * d + j] * w[wAt + j] * (x[t * d + j] * r);
                }
                for (int j = 0; j < d; j++) {
                    double xhat = x[t * d + j] * r;
                    dx[t * d + j] += r * (dout[t * d + j] * w[wAt + j] - xhat * dot / d);
                }
            }
        });
        parallel.forRange(Math.ceilDiv(d, COLUMNS), 1, (worker, from, to) -> {
            for (int t = 0; t < n; t++) {
                double r = rstd[t];
                for (int j = from * COLUMNS; j < Math.min(d, to * COLUMNS); j++) {
                    dw[dwAt + j] += dout[t * d + j] * (x[t * d + j] * r);
                }
            }
        });
    }

    /**
     * Rotates, in place, pairs (2i, 2i+1) of the {@code ropeDim} values at {@code start} of each of
     * {@code heads} groups ({@code stride} apart) of every token's row of {@code width}, by angle
     * position · base^(−2i/ropeDim): DeepSeek-V2's rotation as GGUF files hold it. {@code sign} −1
     * rotates back, which is also the backward pass.
     */
    static void rope(double[] x, int n, int width, int start, int heads, int stride, int ropeDim, int[] positions,
            double base, int sign) {
        for (int t = 0; t < n; t++) {
            for (int i = 0; i < ropeDim / 2; i++) {
                double angle = positions[t] * Math.pow(base, -2.0 * i / ropeDim);
                double cos = Math.cos(angle);
                double sin = sign * Math.sin(angle);
                for (int h = 0; h < heads; h++) {
                    int a = t * width + start + h * stride + 2 * i;
                    double x0 = x[a];
                    double x1 = x[a + 1];
                    x[a] = x0 * cos - x1 * sin;
                    x[a + 1] = x0 * sin + x1 * cos;
                }
            }
        }
    }

    /**
     * Causal attention within each of {@code sequences} sequences of {@code length} tokens:
     * {@code out[t][h] = Σ_{u ≤ t} softmax_u(scale · q[t][h] · k[u][h]) · v[u][h]}. q and k are
     * {@code heads × keyDim} per token, v and out {@code heads × valueDim}; the weights go to {@code probs}
     * ({@code sequences × heads × length × length}, row t holding u ≤ t).
     *
     * <p>Each head of a sequence is gathered into rows of its own and worked as products of blocks
     * of 4 tokens (scores in register tiles, weighted values four rows at a time), the few pairs
     * about the diagonal token by token. Every element gets its sums in the order of a loop over
     * t and u ascending, so the blocks change no bit of a result.
     */
    static void attention(Parallel parallel, double[] out, double[] q, double[] k, double[] v, double[] probs,
            int sequences, int length, int heads, int keyDim, int valueDim, double scale) {
        parallel.forRange(sequences * heads, 1, (worker, from, to) -> {
            double[] lanes = new double[16 * LANES];
            double[] qh = new double[length * keyDim], kh = new double[length * keyDim];
            double[] vh = new double[length * valueDim], oh = new double[length * valueDim];
            for (int job = from; job < to; job++) {
                int s = job / heads, h = job % heads;
                int p = job * length * length; // this head's weights
                gather(q, s, h, length, heads, keyDim, qh);
                gather(k, s, h, length, heads, keyDim, kh);
                gather(v, s, h, length, heads, valueDim, vh);
                for (int t0 = 0; t0 < length; t0 += 4) {
                    int rows = Math.min(4, length - t0);
                    dotRows(qh, t0 * keyDim, rows, keyDim, kh, 0, t0 + rows, probs, p + t0 * length, length, lanes);
                }
                for (int t = 0; t < length; t++) {
                    softmax(probs, p + t * length, t + 1, scale);
                }
                java.util.Arrays.fill(oh, 0);
                causalProduct(probs, p, length, vh, valueDim, oh);
                scatter(oh, s, h, length, heads, valueDim, out);
            }
        });
    }

    /** {@code row[0..count) = softmax(scale · row)}, in place. */
    private static void softmax(double[] x, int at, int count, double scale) {
        double max = Double.NEGATIVE_INFINITY;
        for (int u = at; u < at + count; u++) {
            x[u] = scale * x[u];
            max = Math.max(max, x[u]);
        }
        double sum = 0;
        for (int u = at; u < at + count; u++) {
            x[u] = Math.exp(x[u] - max);
            sum += x[u];
        }
        for (int u = at; u < at + count; u++) {
            x[u] /= sum;
        }
    }

    /** The backward pass of {@link #attention}: adds to dq, dk and dv, in blocks as the forward pass. */
    static void attentionBackward(Parallel parallel, double[] dout, double[] q, double[] k, double[] v,
            double[] probs, int sequences, int length, int heads, int keyDim, int valueDim, double scale,
            double[] dq, double[] dk, double[] dv) {
        parallel.forRange(sequences * heads, 1, (worker, from, to) -> {
            double[] lanes = new double[16 * LANES];
            double[] qh = new double[length * keyDim], kh = new double[length * keyDim];
            double[] vh = new double[length * valueDim], dh = new double[length * valueDim];
            double[] dqh = new double[length * keyDim], dkh = new double[length * keyDim];
            double[] dvh = new double[length * valueDim];
            double[] dscores = new double[length * length];
            for (int job = from; job < to; job++) {
                int s = job / heads, h = job % heads;
                int p = job * length * length;
                gather(q, s, h, length, heads, keyDim, qh);
                gather(k, s, h, length, heads, keyDim, kh);
                gather(v, s, h, length, heads, valueDim, vh);
                gather(dout, s, h, length, heads, valueDim, dh);
                gather(dq, s, h, length, heads, keyDim, dqh);
                gather(dk, s, h, length, heads, keyDim, dkh);
                gather(dv, s, h, length, heads, valueDim, dvh);
                // dscore[t][u] = p[t][u] · (dp[t][u] − Σ_u' p[t][u'] · dp[t][u']) · scale,
                // where dp[t][u] = dout[t] · v[u]
                for (int t0 = 0; t0 < length; t0 += 4) {
                    int rows = Math.min(4, length - t0);
                    dotRows(dh, t0 * valueDim, rows, valueDim, vh, 0, t0 + rows, dscores, t0 * length, length, lanes);
                }
                for (int t = 0; t < length; t++) {
                    int row = p + t * length, ds = t * length;
                    double weighted = 0;
                    for (int u = 0; u <= t; u++) {
                        weighted += probs[row + u] * dscores[ds + u];
                    }
                    for (int u = 0; u <= t; u++) {
                        dscores[ds + u] = probs[row + u] * (dscores[ds + u] - weighted) * scale;
                    }
                }
                transposedProduct(probs, p, length, dh, valueDim, dvh);        // dv[u] += Σ_t p[t][u] · dout[t]
                transposedProduct(dscores, 0, length, qh, keyDim, dkh);        // dk[u] += Σ_t dscore[t][u] · q[t]
                causalProduct(dscores, 0, length, kh, keyDim, dqh);           // dq[t] += Σ_u dscore[t][u] · k[u]
                scatter(dqh, s, h, length, heads, keyDim, dq);
                scatter(dkh, s, h, length, heads, keyDim, dk);
                scatter(dvh, s, h, length, heads, valueDim, dv);
            }
        });
    }

    /**
     * {@code y[t] += Σ_{u ≤ t} a[at + t·length + u] · x[u]} for t < length, over rows of x and y
     * {@code width} long, u ascending: four rows of y at a time over the u before their block,
     * then the pairs by the diagonal one by one.
     */
    private static void causalProduct(double[] a, int at, int length, double[] x, int width, double[] y) {
        for (int t0 = 0; t0 < length; t0 += 4) {
            int diagonal = 0; // the first u the block's rows take one by one
            if (t0 + 4 <= length) {
                accumulate4(a, at + t0 * length, 1, length, x, 0, width, t0, y, t0 * width);
                diagonal = t0;
            }
            for (int t = t0; t < Math.min(length, t0 + 4); t++) {
                for (int u = diagonal; u <= t; u++) {
                    axpy(a[at + t * length + u], x, u * width, y, t * width, width);
                }
            }
        }
    }

    /**
     * {@code y[u] += Σ_{t ≥ u} a[at + t·length + u] · x[t]} for u < length, over rows of x and y
     * {@code width} long, t ascending: four rows of y at a time, the pairs by the diagonal
     * (t < u + 3) first and one by one.
     */
    private static void transposedProduct(double[] a, int at, int length, double[] x, int width, double[] y) {
        int u0 = 0;
        for (; u0 + 4 <= length; u0 += 4) {
            for (int t = u0; t < u0 + 3; t++) {
                for (int u = u0; u <= t; u++) {
                    axpy(a[at + t * length + u], x, t * width, y, u * width, width);
                }
            }
            int t0 = u0 + 3;
            accumulate4(a, at + t0 * length + u0, length, 1, x, t0 * width, width, length - t0, y, u0 * width);
        }
        for (int u = u0; u < length; u++) {
            for (int t = u; t < length; t++) {
                axpy(a[at + t * length + u], x, t * width, y, u * width, width);
            }
        }
    }

    /** Copies head h's rows of sequence s ({@code heads × dim} per token in {@code all}) into {@code rows}. */
    private static void gather(double[] all, int s, int h, int length, int heads, int dim, double[] rows) {
        for (int t = 0; t < length; t++) {
            System.arraycopy(all, ((s * length + t) * heads + h) * dim, rows, t * dim, dim);
        }
    }

    /** The inverse of {@link #gather}. */
    private static void scatter(double[] rows, int s, int h, int length, int heads, int dim, double[] all) {
        for (int t = 0; t < length; t++) {
            System.arraycopy(rows, t * dim, all, ((s * length + t) * heads + h) * dim, dim);
        }
    }

    /** {@code out = silu(gate) · up}, element by element. */
    static void swiglu(Parallel parallel, double[] out, double[] gate, double[] up, int size) {
        parallel.forRange(Math.ceilDiv(size, ELEMENTS), 1, (worker, from, to) -> {
            for (int i = from * ELEMENTS; i < Math.min(size, to * ELEMENTS); i++) {
                out[i] = silu(gate[i]) * up[i];
            }
        });
    }

    /** The backward pass of {@link #swiglu}. */
    static void swigluBackward(Parallel parallel, double[] dout, double[] gate, double[] up, int size, double[] dgate,
            double[] dup) {
        parallel.forRange(Math.ceilDiv(size, ELEMENTS), 1, (worker, from, to) -> {
            for (int i = from * ELEMENTS; i < Math.min(size, to * ELEMENTS); i++) {
                double g = gate[i];
                double sigmoid = 1 / (1 + Math.exp(-g));
                dgate[i] += dout[i] * up[i] * sigmoid * (1 + g * (1 - sigmoid));
                dup[i] += dout[i] * g * sigmoid;
            }
        });
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    static double dot(double[] a, int aAt, double[] b, int bAt, int n) {
        DoubleVector acc = DoubleVector.zero(D);
        int i = 0;
        for (int step = D.length(); i + step <= n; i += step) {
            acc = DoubleVector.fromArray(D, a, aAt + i).fma(DoubleVector.fromArray(D, b, bAt + i), acc);
        }
        double sum = 0;
        for (int lane = 0; lane < LANES; lane++) { // in lane order, as the tiles' sumOfLanes
            sum += acc.lane(lane);
        }
        for (; i < n; i++) {
            sum += a[aAt + i] * b[bAt + i];
        }
        return sum;
    }

    /** {@code y[yAt..] += alpha · x[xAt..]}. */
    static void axpy(double alpha, double[] x, int xAt, double[] y, int yAt, int n) {
        if (alpha == 0) {
            return;
        }
        DoubleVector a = DoubleVector.broadcast(D, alpha);
        int i = 0;
        for (int step = D.length(); i + step <= n; i += step) {
            DoubleVector.fromArray(D, x, xAt + i).fma(a, DoubleVector.fromArray(D, y, yAt + i)).intoArray(y, yAt + i);
        }
        for (; i < n; i++) {
            y[yAt + i] += alpha * x[xAt + i];
        }
    }
}
