package dev.fathom.tensor.kernel;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;

/**
 * Everything Fathom does with one weight type: read values back, write them, and take the dot
 * product of a row with a vector of activations, reading the blocks in place.
 *
 * <p>Lengths are in elements and must be whole blocks; offsets are in bytes.
 */
public abstract sealed class WeightKernel
        permits F32Kernel, F16Kernel, BF16Kernel, Q8_0Kernel, Q4_0Kernel, Q4_1Kernel, Q5_0Kernel,
        Q5_1Kernel, Q4_KKernel, Q5_KKernel, Q6_KKernel, F8E4M3Kernel {

    private static final WeightKernel[] BY_TYPE = new WeightKernel[GgmlType.values().length];

    static {
        for (WeightKernel k : new WeightKernel[] {
                new F32Kernel(), new F16Kernel(), new BF16Kernel(), new Q8_0Kernel(), new Q4_0Kernel(),
                new Q4_1Kernel(), new Q5_0Kernel(), new Q5_1Kernel(), new Q4_KKernel(), new Q5_KKernel(),
                new Q6_KKernel(), new F8E4M3Kernel()}) {
            BY_TYPE[k.type().ordinal()] = k;
        }
    }

    /** The kernel for {@code type}; throws if Fathom has none. */
    public static WeightKernel of(GgmlType type) {
        WeightKernel k = BY_TYPE[type.ordinal()];
        if (k == null) {
            throw new UnsupportedOperationException("tensor type " + type + " is not supported (supported: "
                    + GgmlType.supportedNames() + ")");
        }
        return k;
    }

    public abstract GgmlType type();

    /** The form activations must take for {@link #dot}. */
    public abstract ActivationFormat activationFormat();

    /** Decodes {@code n} values from {@code src} at byte {@code offset} into {@code dst}. */
    public abstract void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n);

    /** Encodes {@code n} values of {@code src} into {@code dst} at byte {@code offset}. */
    public abstract void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n);

    /**
     * The dot product of the {@code n} weights at byte {@code offset} with the activations: the
     * raw floats {@code x} from {@code xOffset} for {@link ActivationFormat#F32} kernels, else {@code qx}, quantized
     * in this kernel's {@link #activationFormat()}.
     */
    public abstract float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n);

    /**
     * The dot products of {@code count} rows, the first at byte {@code offset} and each next one
     * {@code rowBytes} further, with one token's activations (as for {@link #dot}), written to
     * {@code out[outAt]} onwards: each bit for bit what {@link #dot} gives that row. Types whose
     * rows cost a fixed amount besides their blocks take them several at a time.
     */
    public void dotRows(MemorySegment w, long offset, long rowBytes, int count, float[] x, int xOffset, QuantizedVector qx,
            int n, float[] out, int outAt) {
        if (!takesRowPairs()) {
            for (int i = 0; i < count; i++) {
                out[outAt + i] = dot(w, offset + i * rowBytes, x, xOffset, qx, n);
            }
            return;
        }
        // Row i with row i + count / 2: two streams far apart, which the prefetchers follow
        // better than one. Neighbouring rows as a pair were faster from the second-level cache
        // but slower from memory.
        int half = count / 2;
        for (int i = 0; i < half; i++) {
            dotRowPair(w, offset + i * rowBytes, offset + (i + half) * rowBytes, qx, n, out, outAt + i, half);
        }
        if (count % 2 != 0) {
            out[outAt + count - 1] = dot(w, offset + (count - 1) * rowBytes, x, xOffset, qx, n);
        }
    }

    /** Whether {@link #dotRows} takes rows two at a time, by {@link #dotRowPair}. */
    boolean takesRowPairs() {
        return false;
    }

    /**
     * {@link #dot} for two rows, at byte offsets {@code a} and {@code b}, with quantized
     * activations, results to {@code out[at]} and {@code out[at + nextOut]}: each bit for bit
     * what {@link #dot} gives that row. Only where {@link #takesRowPairs()}.
     */
    void dotRowPair(MemorySegment w, long a, long b, QuantizedVector qx, int n, float[] out, int at, int nextOut) {
        throw new UnsupportedOperationException(type() + " takes rows one at a time");
    }

    /**
     * Whether {@link #dotPair} decodes each block once for both tokens, so that two tokens cost
     * well under two dot products (K-quants on 512-bit vectors: about 1.4 times one).
     */
    public boolean pairsShareDecoding() {
        return false;
    }

    /**
     * The dot products of one row with two tokens' quantized activations, {@code qa} and
     * {@code qb}, written to {@code out[outA]} and {@code out[outB]}: each bit for bit what
     * {@link #dot} gives that token alone. Types whose decoding of a block costs as much as its
     * products decode it once for both.
     */
    public void dotPair(MemorySegment w, long offset, QuantizedVector qa, QuantizedVector qb, int n, float[] out,
            int outA, int outB) {
        out[outA] = dot(w, offset, null, 0, qa, n);
        out[outB] = dot(w, offset, null, 0, qb, n);
    }

    /** The most tokens {@link #dotFew} takes at once. */
    public static final int FEW_TOKENS = 4;

    /**
     * Whether this type has {@link #dotFew}: a product that decodes each block of a row once, to
     * floats in registers, for several tokens. With a few tokens, re-reading a row's quants for
     * each token costs a whole integer dot product each time, while decoding it to a panel of
     * floats for the tiled path costs a store and a load of every weight.
     */
    public boolean multipliesFewTokens() {
        return false;
    }

    /**
     * The dot products of the {@code n} weights at byte {@code offset} with {@code tokens} (1 to
     * {@link #FEW_TOKENS}) rows of float activations, token t's at {@code x[xAt + t · xStride]}
     * and holding the values of this kernel's {@link #activationFormat()}, written to
     * {@code out[outAt + t · outStride]}. Only where {@link #multipliesFewTokens()}.
     */
    public void dotFew(MemorySegment w, long offset, float[] x, int xAt, int xStride, int tokens, float[] out,
            int outAt, int outStride, int n) {
        throw new UnsupportedOperationException(type() + " has no few-token product");
    }

    /**
     * {@link #dotFew} for two rows, at byte {@code offset} and {@code offset + nextRow}, the
     * second's results at {@code out[outAt + nextOut + t · outStride]}.
     */
    public void dotFewRows(MemorySegment w, long offset, long nextRow, float[] x, int xAt, int xStride, int tokens,
            float[] out, int outAt, int nextOut, int outStride, int n) {
        throw new UnsupportedOperationException(type() + " has no few-token product");
    }

    /**
     * The dot product of {@code n} weights at byte {@code offset} with float activations, where
     * the weights' value in each block of {@code block} columns is scaled by {@code scales[first
     * + b]} (FP8 checkpoints' block scales): one scaled dot product per block, summed.
     */
    public float dotBlockScaled(MemorySegment w, long offset, float[] x, int xOffset, float[] scales, int first,
            int block, int n) {
        long bytesPerValue = type().bytesFor(1);
        float sum = 0;
        for (int c = 0, b = first; c < n; c += block, b++) {
            sum += scales[b] * dot(w, offset + c * bytesPerValue, x, xOffset + c, null, Math.min(block, n - c));
        }
        return sum;
    }
}
