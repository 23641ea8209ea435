package dev.fathom.train.model;

import dev.fathom.tensor.Parallel;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
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

    /** {@code out[t][o] = Σ_i x[t][i] · W[o][i]} for n tokens; W is {@code outs × ins} at {@code w[wAt]}. */
    static void matmul(Parallel parallel, double[] out, double[] x, int n, int ins, double[] w, int wAt, int outs) {
        parallel.forRange(n, 4, (worker, from, to) -> {
            for (int t = from; t < to; t++) {
                for (int o = 0; o < outs; o++) {
                    out[t * outs + o] = dot(x, t * ins, w, wAt + o * ins, ins);
                }
            }
        });
    }

    /**
     * The backward pass of {@link #matmul}: {@code dx += dout · W} (unless {@code dx} is null)
     * and {@code dW += doutᵀ · x}.
     */
    static void matmulBackward(Parallel parallel, double[] dout, double[] x, int n, int ins, double[] w, int wAt,
            int outs, double[] dx, double[] dw, int dwAt) {
        if (dx != null) {
            parallel.forRange(n, 4, (worker, from, to) -> {
                for (int t = from; t < to; t++) {
                    for (int o = 0; o < outs; o++) {
                        axpy(dout[t * outs + o], w, wAt + o * ins, dx, t * ins, ins);
                    }
                }
            });
        }
        parallel.forRange(outs, 1, (worker, from, to) -> {
            for (int o = from; o < to; o++) {
                for (int t = 0; t < n; t++) {
                    axpy(dout[t * outs + o], x, t * ins, dw, dwAt + o * ins, ins);
                }
            }
        });
    }

    /** {@code out = x / rms(x) · weight}, row by row; keeps each row's 1/rms in {@code rstd}. */
    static void rmsNorm(double[] out, double[] x, int n, int d, double[] w, int wAt, double[] rstd) {
        for (int t = 0; t < n; t++) {
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
    }

    /** The backward pass of {@link #rmsNorm}. */
    static void rmsNormBackward(double[] dout, double[] x, int n, int d, double[] w, int wAt, double[] rstd,
            double[] dx, double[] dw, int dwAt) {
        for (int t = 0; t < n; t++) {
            double r = rstd[t];
            double dot = 0; // Σ_j dxhat_j · xhat_j
            for (int j = 0; j < d; j++) {
                double xhat = x[t * d + j] * r;
                double g = dout[t * d + j];
                dw[dwAt + j] += g * xhat;
                dot += g * w[wAt + j] * xhat;
            }
            for (int j = 0; j < d; j++) {
                double xhat = x[t * d + j] * r;
                dx[t * d + j] += r * (dout[t * d + j] * w[wAt + j] - xhat * dot / d);
            }
        }
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
     * ({@code sequences × heads × length × length}).
     */
    static void attention(Parallel parallel, double[] out, double[] q, double[] k, double[] v, double[] probs,
            int sequences, int length, int heads, int keyDim, int valueDim, double scale) {
        parallel.forRange(sequences * heads, 1, (worker, from, to) -> {
            for (int job = from; job < to; job++) {
                int s = job / heads;
                int h = job % heads;
                for (int t = 0; t < length; t++) {
                    int row = ((s * heads + h) * length + t) * length;
                    int qAt = ((s * length + t) * heads + h) * keyDim;
                    double max = Double.NEGATIVE_INFINITY;
                    for (int u = 0; u <= t; u++) {
                        double score = scale * dot(q, qAt, k, ((s * length + u) * heads + h) * keyDim, keyDim);
                        probs[row + u] = score;
                        max = Math.max(max, score);
                    }
                    double sum = 0;
                    for (int u = 0; u <= t; u++) {
                        probs[row + u] = Math.exp(probs[row + u] - max);
                        sum += probs[row + u];
                    }
                    int oAt = ((s * length + t) * heads + h) * valueDim;
                    java.util.Arrays.fill(out, oAt, oAt + valueDim, 0);
                    for (int u = 0; u <= t; u++) {
                        probs[row + u] /= sum;
                        axpy(probs[row + u], v, ((s * length + u) * heads + h) * valueDim, out, oAt, valueDim);
                    }
                }
            }
        });
    }

    /** The backward pass of {@link #attention}: adds to dq, dk and dv. */
    static void attentionBackward(Parallel parallel, double[] dout, double[] q, double[] k, double[] v,
            double[] probs, int sequences, int length, int heads, int keyDim, int valueDim, double scale,
            double[] dq, double[] dk, double[] dv) {
        parallel.forRange(sequences * heads, 1, (worker, from, to) -> {
            double[] dp = new double[length];
            for (int job = from; job < to; job++) {
                int s = job / heads;
                int h = job % heads;
                for (int t = 0; t < length; t++) {
                    int row = ((s * heads + h) * length + t) * length;
                    int oAt = ((s * length + t) * heads + h) * valueDim;
                    int qAt = ((s * length + t) * heads + h) * keyDim;
                    double weighted = 0; // Σ_u p_u · dp_u
                    for (int u = 0; u <= t; u++) {
                        int vAt = ((s * length + u) * heads + h) * valueDim;
                        dp[u] = dot(dout, oAt, v, vAt, valueDim);
                        weighted += probs[row + u] * dp[u];
                        axpy(probs[row + u], dout, oAt, dv, vAt, valueDim);
                    }
                    for (int u = 0; u <= t; u++) {
                        double dscore = probs[row + u] * (dp[u] - weighted) * scale;
                        int kAt = ((s * length + u) * heads + h) * keyDim;
                        axpy(dscore, k, kAt, dq, qAt, keyDim);
                        axpy(dscore, q, qAt, dk, kAt, keyDim);
                    }
                }
            }
        });
    }

    /** {@code out = silu(gate) · up}, element by element. */
    static void swiglu(double[] out, double[] gate, double[] up, int size) {
        for (int i = 0; i < size; i++) {
            out[i] = silu(gate[i]) * up[i];
        }
    }

    /** The backward pass of {@link #swiglu}. */
    static void swigluBackward(double[] dout, double[] gate, double[] up, int size, double[] dgate, double[] dup) {
        for (int i = 0; i < size; i++) {
            double g = gate[i];
            double sigmoid = 1 / (1 + Math.exp(-g));
            dgate[i] += dout[i] * up[i] * sigmoid * (1 + g * (1 - sigmoid));
            dup[i] += dout[i] * g * sigmoid;
        }
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
        double sum = acc.reduceLanes(VectorOperators.ADD);
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
