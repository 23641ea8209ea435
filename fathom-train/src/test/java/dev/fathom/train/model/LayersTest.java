package dev.fathom.train.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.tensor.Parallel;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Each layer's backward pass against central differences, in double precision: the layer's
 * output is projected on a fixed random tensor R (loss = Σ out·R), the backward pass gets R as
 * the output's gradient, and every input coordinate's derivative is compared with
 * (loss(x + h) − loss(x − h)) / 2h, h = 1e-5, to a relative error of 1e-6.
 */
class LayersTest {
    private static final double H = 1e-5;
    private static Parallel parallel;
    private final SplittableRandom random = new SplittableRandom(17);

    @BeforeAll
    static void start() {
        parallel = new Parallel(2);
    }

    @AfterAll
    static void stop() {
        parallel.close();
    }

    private double[] randoms(int n) {
        double[] x = new double[n];
        for (int i = 0; i < n; i++) {
            x[i] = random.nextGaussian();
        }
        return x;
    }

    /** Checks {@code analytic} (the gradient of Σ forward(x)·R in x) against central differences. */
    private static void check(String what, double[] x, double[] analytic, double[] r, Function<double[], double[]> forward) {
        for (int i = 0; i < x.length; i++) {
            double kept = x[i];
            x[i] = kept + H;
            double plus = project(forward.apply(x), r);
            x[i] = kept - H;
            double minus = project(forward.apply(x), r);
            x[i] = kept;
            double numeric = (plus - minus) / (2 * H);
            assertThat(Math.abs(analytic[i] - numeric)).as("%s[%d]: analytic %s, numeric %s", what, i, analytic[i], numeric)
                    .isLessThanOrEqualTo(1e-6 * Math.max(1, Math.abs(numeric)));
        }
    }

    private static double project(double[] out, double[] r) {
        double sum = 0;
        for (int i = 0; i < out.length; i++) {
            sum += out[i] * r[i];
        }
        return sum;
    }

    @Test
    void matmul() {
        int n = 6, ins = 21, outs = 10; // whole tiles (of 4 × 4 or 4 × 3) and what is left over, vectors and a tail
        double[] x = randoms(n * ins);
        double[] w = randoms(2 + outs * ins); // at an offset, as in the parameter buffer
        double[] r = randoms(n * outs);
        double[] dx = new double[x.length];
        double[] dw = new double[w.length];
        Layers.matmulBackward(parallel, r, x, n, ins, w, 2, outs, dx, dw, 2);
        Function<double[], double[]> f = unused -> {
            double[] out = new double[n * outs];
            Layers.matmul(parallel, out, x, n, ins, w, 2, outs);
            return out;
        };
        check("x", x, dx, r, f);
        check("W", w, dw, r, f);
    }

    /**
     * Two runs from one seed write the same model only if every sum is added in one order, whether
     * the interpreter runs the code or C2 has compiled it. The order the products promise: one
     * fused sum per vector lane over the whole vectors of a row, the lanes added first to last,
     * then the columns past the last whole vector. Checked bit for bit, cold and once compiled.
     */
    @Test
    void matmulAddsInOneOrderColdAndCompiled() {
        int n = 9, ins = 3 * LANES + 5, outs = 7;
        double[] x = randoms(n * ins);
        double[] w = randoms(outs * ins);
        double[] expected = new double[n * outs];
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < outs; o++) {
                expected[t * outs + o] = inOrder(x, t * ins, w, o * ins, ins);
            }
        }
        double[] out = new double[n * outs];
        for (int round = 0; round < 20_000; round++) {
            Layers.matmul(parallel, out, x, n, ins, w, 0, outs);
            if (round == 0 || round == 19_999) {
                for (int i = 0; i < out.length; i++) {
                    assertThat(Double.doubleToLongBits(out[i])).as("round %d, output %d: %s against %s", round, i, out[i],
                            expected[i]).isEqualTo(Double.doubleToLongBits(expected[i]));
                }
            }
        }
    }

    private static final int LANES = jdk.incubator.vector.DoubleVector.SPECIES_PREFERRED.length();

    private static double inOrder(double[] a, int aAt, double[] b, int bAt, int n) {
        double[] lanes = new double[LANES];
        int whole = n / LANES * LANES;
        for (int c = 0; c < whole; c++) {
            lanes[c % LANES] = Math.fma(a[aAt + c], b[bAt + c], lanes[c % LANES]);
        }
        double sum = 0;
        for (double lane : lanes) {
            sum += lane;
        }
        for (int c = whole; c < n; c++) {
            sum += a[aAt + c] * b[bAt + c];
        }
        return sum;
    }

    @Test
    void rmsNorm() {
        int n = 3, d = 7;
        double[] x = randoms(n * d);
        double[] w = randoms(d);
        double[] r = randoms(n * d);
        double[] rstd = new double[n];
        Layers.rmsNorm(parallel, new double[n * d], x, n, d, w, 0, rstd);
        double[] dx = new double[x.length];
        double[] dw = new double[w.length];
        Layers.rmsNormBackward(parallel, r, x, n, d, w, 0, rstd, dx, dw, 0);
        Function<double[], double[]> f = unused -> {
            double[] out = new double[n * d];
            Layers.rmsNorm(parallel, out, x, n, d, w, 0, new double[n]);
            return out;
        };
        check("x", x, dx, r, f);
        check("weight", w, dw, r, f);
    }

    @Test
    void rotationIsUndoneByItsBackwardPass() {
        int n = 4, width = 2 * 6;
        int[] positions = {0, 1, 5, 9};
        double[] x = randoms(n * width);
        double[] r = randoms(n * width);
        double[] dx = r.clone();
        Layers.rope(dx, n, width, 2, 2, 6, 4, positions, 10000, -1);
        Function<double[], double[]> f = in -> {
            double[] out = in.clone();
            Layers.rope(out, n, width, 2, 2, 6, 4, positions, 10000, 1);
            return out;
        };
        check("x", x, dx, r, f);
        double[] back = f.apply(x);
        Layers.rope(back, n, width, 2, 2, 6, 4, positions, 10000, -1);
        assertThat(back).containsExactly(x, org.assertj.core.data.Offset.offset(1e-12));
    }

    @Test
    void causalAttention() {
        int sequences = 2, length = 11, heads = 2, keyDim = LANES + 3, valueDim = 3; // blocks of 4 tokens and 3 left
        int n = sequences * length;
        double[] q = randoms(n * heads * keyDim);
        double[] k = randoms(n * heads * keyDim);
        double[] v = randoms(n * heads * valueDim);
        double[] r = randoms(n * heads * valueDim);
        double[] probs = new double[sequences * heads * length * length];
        Layers.attention(parallel, new double[r.length], q, k, v, probs, sequences, length, heads, keyDim, valueDim, 0.7);
        double[] dq = new double[q.length];
        double[] dk = new double[k.length];
        double[] dv = new double[v.length];
        Layers.attentionBackward(parallel, r, q, k, v, probs, sequences, length, heads, keyDim, valueDim, 0.7, dq, dk, dv);
        Function<double[], double[]> f = unused -> {
            double[] out = new double[r.length];
            Layers.attention(parallel, out, q, k, v, new double[probs.length], sequences, length, heads, keyDim, valueDim, 0.7);
            return out;
        };
        check("q", q, dq, r, f);
        check("k", k, dk, r, f);
        check("v", v, dv, r, f);
    }

    /**
     * Attention in blocks adds every sum in the order of the plain loops over tokens t and u
     * (scores as {@link #inOrder}, weighted sums ascending, fused over whole vectors), bit for bit:
     * blocks, the diagonal and the tokens past the last block, vectors in pairs, alone and a tail.
     */
    @Test
    void attentionInBlocksAddsAsTokenByToken() {
        int sequences = 2, length = 14, heads = 3, keyDim = 2 * LANES + 3, valueDim = LANES + 1;
        int n = sequences * length;
        double[] q = randoms(n * heads * keyDim), k = randoms(n * heads * keyDim), v = randoms(n * heads * valueDim);
        double[] dout = randoms(n * heads * valueDim);
        double[] out = new double[dout.length], probs = new double[sequences * heads * length * length];
        double[] dq = randoms(q.length), dk = randoms(k.length), dv = randoms(v.length); // the sums add to these
        double[] expectedDq = dq.clone(), expectedDk = dk.clone(), expectedDv = dv.clone();
        Layers.attention(parallel, out, q, k, v, probs, sequences, length, heads, keyDim, valueDim, 0.3);
        Layers.attentionBackward(parallel, dout, q, k, v, probs, sequences, length, heads, keyDim, valueDim, 0.3,
                dq, dk, dv);

        double[] expectedOut = new double[out.length];
        for (int s = 0; s < sequences; s++) {
            for (int h = 0; h < heads; h++) {
                for (int t = 0; t < length; t++) {
                    int qAt = ((s * length + t) * heads + h) * keyDim, oAt = ((s * length + t) * heads + h) * valueDim;
                    double[] p = new double[t + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int u = 0; u <= t; u++) {
                        p[u] = 0.3 * inOrder(q, qAt, k, ((s * length + u) * heads + h) * keyDim, keyDim);
                        max = Math.max(max, p[u]);
                    }
                    for (int u = 0; u <= t; u++) {
                        p[u] = Math.exp(p[u] - max);
                        sum += p[u];
                    }
                    double weighted = 0;
                    double[] dp = new double[t + 1];
                    for (int u = 0; u <= t; u++) {
                        p[u] /= sum;
                        int vAt = ((s * length + u) * heads + h) * valueDim;
                        addInOrder(p[u], v, vAt, expectedOut, oAt, valueDim);
                        dp[u] = inOrder(dout, oAt, v, vAt, valueDim);
                        weighted += p[u] * dp[u];
                        addInOrder(p[u], dout, oAt, expectedDv, vAt, valueDim);
                        assertThat(probs[((s * heads + h) * length + t) * length + u]).as("weight").isEqualTo(p[u]);
                    }
                    for (int u = 0; u <= t; u++) {
                        double dscore = p[u] * (dp[u] - weighted) * 0.3;
                        int kAt = ((s * length + u) * heads + h) * keyDim;
                        addInOrder(dscore, k, kAt, expectedDq, qAt, keyDim);
                        addInOrder(dscore, q, qAt, expectedDk, kAt, keyDim);
                    }
                }
            }
        }
        sameBits("out", out, expectedOut);
        sameBits("dq", dq, expectedDq);
        sameBits("dk", dk, expectedDk);
        sameBits("dv", dv, expectedDv);
    }

    private static void sameBits(String what, double[] actual, double[] expected) {
        for (int i = 0; i < actual.length; i++) {
            assertThat(Double.doubleToLongBits(actual[i])).as("%s[%d]: %s against %s", what, i, actual[i], expected[i])
                    .isEqualTo(Double.doubleToLongBits(expected[i]));
        }
    }

    /** {@code y += a·x}: fused over the whole vectors of the row, then the columns past them. */
    private static void addInOrder(double a, double[] x, int xAt, double[] y, int yAt, int n) {
        int whole = n / LANES * LANES;
        for (int c = 0; c < n; c++) {
            y[yAt + c] = c < whole ? Math.fma(x[xAt + c], a, y[yAt + c]) : y[yAt + c] + a * x[xAt + c];
        }
    }

    @Test
    void swiglu() {
        int size = 9;
        double[] gate = randoms(size);
        double[] up = randoms(size);
        double[] r = randoms(size);
        double[] dgate = new double[size];
        double[] dup = new double[size];
        Layers.swigluBackward(parallel, r, gate, up, size, dgate, dup);
        Function<double[], double[]> f = unused -> {
            double[] out = new double[size];
            Layers.swiglu(parallel, out, gate, up, size);
            return out;
        };
        check("gate", gate, dgate, r, f);
        check("up", up, dup, r, f);
    }
}
