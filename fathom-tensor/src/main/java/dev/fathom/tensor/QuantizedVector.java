package dev.fathom.tensor;

/**
 * A vector of activations quantized to 8-bit integers in blocks (see {@link ActivationFormat}).
 *
 * <p>The int8 values are kept widened to {@code short}: kernels load them straight into short
 * lanes and multiply them with the weights' quants, without a conversion per load. Buffers are
 * sized once and reused for every matrix product.
 */
public final class QuantizedVector {
    public final ActivationFormat format;
    /** The quantized values, in [-127, 127]. */
    public final short[] q;
    /** Scale of each block: value ≈ d · q. */
    public final float[] d;
    /**
     * Per-block sums that the kernels need to apply the weights' offsets: for Q8_0 the integer
     * sum of each block of 32, for Q8_1 the f16-rounded d·Σq, for Q8_K the sum of each group of 16.
     */
    public final float[] sums;
    private int length;

    public QuantizedVector(ActivationFormat format, int capacity) {
        if (!format.quantized) {
            throw new IllegalArgumentException(format + " activations are not quantized");
        }
        this.format = format;
        int blocks = Math.ceilDiv(capacity, format.blockSize);
        this.q = new short[blocks * format.blockSize];
        this.d = new float[blocks];
        this.sums = new float[format == ActivationFormat.Q8_K ? blocks * 16 : blocks];
    }

    /** Number of valid elements. */
    public int length() {
        return length;
    }

    /**
     * Quantizes {@code n} floats of {@code x} from {@code offset}, rounding exactly as llama.cpp's
     * x86 code does (round half to even; f16-rounded scales for Q8_0 and Q8_1).
     */
    public void quantize(float[] x, int offset, int n) {
        if (n % format.blockSize != 0) {
            throw new IllegalArgumentException(n + " is not a multiple of " + format.blockSize);
        }
        if (n > q.length) {
            throw new IllegalArgumentException(n + " values do not fit a buffer of " + q.length);
        }
        length = n;
        switch (format) {
            case Q8_0, Q8_1 -> quantize32(x, offset, n);
            case Q8_K -> quantize256(x, offset, n);
            default -> throw new AssertionError(format);
        }
    }

    /** Writes the values as the quantization represents them, d·q, into {@code out} from {@code offset}. */
    public void dequantize(float[] out, int offset) {
        int block = format.blockSize;
        for (int i = 0; i < length; i++) {
            out[offset + i] = d[i / block] * q[i];
        }
    }

    private void quantize32(float[] x, int offset, int n) {
        boolean withScaledSum = format == ActivationFormat.Q8_1;
        for (int b = 0; b < n / 32; b++) {
            int base = offset + b * 32;
            float amax = 0;
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(x[base + i]));
            }
            float scale = amax / 127f;
            float inverse = amax != 0 ? 127f / amax : 0f;
            int sum = 0;
            for (int i = 0; i < 32; i++) {
                short v = (short) Math.rint(x[base + i] * inverse);
                q[b * 32 + i] = v;
                sum += v;
            }
            d[b] = Float.float16ToFloat(Float.floatToFloat16(scale));
            sums[b] = withScaledSum ? Float.float16ToFloat(Float.floatToFloat16(scale * sum)) : sum;
        }
    }

    private void quantize256(float[] x, int offset, int n) {
        for (int b = 0; b < n / 256; b++) {
            int base = offset + b * 256;
            // The scale takes the sign of the largest-magnitude value, so that value maps to -127.
            float max = 0;
            float amax = 0;
            for (int i = 0; i < 256; i++) {
                float ax = Math.abs(x[base + i]);
                if (ax > amax) {
                    amax = ax;
                    max = x[base + i];
                }
            }
            if (amax == 0) {
                java.util.Arrays.fill(q, b * 256, b * 256 + 256, (short) 0);
                java.util.Arrays.fill(sums, b * 16, b * 16 + 16, 0f);
                d[b] = 0;
                continue;
            }
            float inverse = -127f / max;
            for (int g = 0; g < 16; g++) {
                int sum = 0;
                for (int i = g * 16; i < g * 16 + 16; i++) {
                    short v = (short) Math.min(127, (int) Math.rint(inverse * x[base + i]));
                    q[b * 256 + i] = v;
                    sum += v;
                }
                sums[b * 16 + g] = sum;
            }
            d[b] = 1 / inverse;
        }
    }
}
