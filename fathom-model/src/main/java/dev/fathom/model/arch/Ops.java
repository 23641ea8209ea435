package dev.fathom.model.arch;

import dev.fathom.tensor.Matrix;

/**
 * The element-wise steps of a transformer layer, written to round as llama.cpp's CPU backend
 * does where it matters (RMS sums in double, norm scale in float). The transcendental ones are
 * in {@link dev.fathom.tensor.kernel.VectorMath}.
 */
final class Ops {
    private Ops() {
    }

    /** out = x / rms(x) · weight, for {@code rows} rows of {@code n} values. */
    static void rmsNorm(float[] x, float[] weight, float eps, float[] out, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            rmsNorm(x, r * n, weight, eps, out, r * n, n);
        }
    }

    /** The RMS norm of the {@code n} values of {@code x} at {@code offset}, in place. */
    static void rmsNormInPlace(float[] x, int offset, float[] weight, float eps, int n) {
        rmsNorm(x, offset, weight, eps, x, offset, n);
    }

    /** One row: out[o + i] = x[xo + i] / rms(x[xo, xo + n)) · weight[i]. */
    private static void rmsNorm(float[] x, int xo, float[] weight, float eps, float[] out, int o, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float v = x[xo + i];
            sum += v * v;
        }
        float mean = (float) (sum / n);
        float scale = 1f / (float) Math.sqrt(mean + eps);
        for (int i = 0; i < n; i++) {
            out[o + i] = x[xo + i] * scale * weight[i];
        }
    }

    /**
     * Looks up the batch's tokens in an embedding table (one row per token id), row i of the
     * batch into {@code out} at i · {@code stride}; a token outside the table is an error.
     */
    static void embed(Batch batch, Matrix table, float[] out, int stride) {
        for (int i = 0; i < batch.size(); i++) {
            int token = batch.token(i);
            if (token < 0 || token >= table.rows()) {
                throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + table.rows());
            }
            table.dequantizeRow(token, out, i * stride);
        }
    }

    /** x += y over the first {@code n} values. */
    static void add(float[] x, float[] y, int n) {
        for (int i = 0; i < n; i++) {
            x[i] += y[i];
        }
    }

    /** Adds {@code bias} to each of {@code rows} rows of {@code x}. */
    static void addBias(float[] x, float[] bias, int rows) {
        int n = bias.length;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < n; i++) {
                x[r * n + i] += bias[i];
            }
        }
    }

    /**
     * Rotates the first {@code ropeDim} values of each of {@code heads} heads of size
     * {@code headDim} at {@code offset}, by the angles whose cosines and sines are given per pair.
     * NEOX pairs value i with i + ropeDim/2; NORM pairs 2i with 2i + 1.
     */
    static void rope(float[] x, int offset, int heads, int headDim, int ropeDim, boolean neox,
            float[] cos, float[] sin, int table) {
        int half = ropeDim / 2;
        for (int h = 0; h < heads; h++) {
            int base = offset + h * headDim;
            for (int i = 0; i < half; i++) {
                int a = neox ? base + i : base + 2 * i;
                int b = neox ? base + i + half : base + 2 * i + 1;
                float c = cos[table + i];
                float s = sin[table + i];
                float x0 = x[a];
                float x1 = x[b];
                x[a] = x0 * c - x1 * s;
                x[b] = x0 * s + x1 * c;
            }
        }
    }

    /**
     * The rotary angles' cosines and sines for one position, as ggml computes them: the angle of
     * pair i is position · base^(−2i/d), built by repeated float multiplication, divided by the
     * pair's frequency factor (llama3 scaling) and multiplied by {@code scale}.
     */
    static void ropeAngles(int position, float base, float scale, int ropeDim, float[] factors, float[] cos,
            float[] sin, int table) {
        float step = (float) Math.pow(base, -2.0f / ropeDim);
        float theta = position;
        for (int i = 0; i < ropeDim / 2; i++) {
            float t = scale * (factors == null ? theta : theta / factors[i]);
            cos[table + i] = (float) Math.cos(t);
            sin[table + i] = (float) Math.sin(t);
            theta *= step;
        }
    }

    /**
     * The rotary angles of one position with YaRN, as ggml's rope_yarn computes them: pair i's
     * angle mixes the interpolated angle (× freqScale) with the original one by a ramp that is 1
     * below pair {@code low} and 0 above {@code high}; cosines and sines are scaled by mscale.
     */
    static void ropeAnglesYarn(int position, DeepSeek2Config.Rope rope, int ropeDim, float[] cos, float[] sin,
            int table) {
        float step = (float) Math.pow(rope.base(), -2.0f / ropeDim);
        float theta = position;
        for (int i = 0; i < ropeDim / 2; i++) {
            float interpolated = rope.freqScale() * theta;
            float angle = interpolated;
            if (rope.extFactor() != 0f) {
                float y = (i - rope.low()) / Math.max(0.001f, rope.high() - rope.low());
                float mix = (1 - Math.min(1f, Math.max(0f, y))) * rope.extFactor();
                angle = interpolated * (1 - mix) + theta * mix;
            }
            cos[table + i] = (float) Math.cos(angle) * rope.mscale();
            sin[table + i] = (float) Math.sin(angle) * rope.mscale();
            theta *= step;
        }
    }
}
