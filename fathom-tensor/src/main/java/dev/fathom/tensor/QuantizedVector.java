package dev.fathom.tensor;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

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
     * sum of each block, for Q8_1 the f16-rounded d·Σq; unused for Q8_K.
     */
    public final float[] sums;
    /** For Q8_K, the integer sum of each group of 16 (what Q6_K's offset multiplies). */
    public final int[] sums16;
    /**
     * For Q8_K, the integer sum of each group of 32 (what Q4_K's and Q5_K's minimums multiply):
     * sixteen ints per block, eight zeros and then the block's eight sums, so that a 512-bit
     * kernel can multiply a vector of the block's eight scales and eight minimums with them and
     * have the scales come to nothing.
     */
    public final int[] sums32;
    /**
     * The values again, two to an int, in the order the paired products of the 4- to 6-bit
     * kernels read them (see {@code Lanes}). For a group of 32 values y, its even unit is the
     * eight ints y[4k]·2¹⁶ + y[4k+2] and its odd unit the eight y[4k+1]·2¹⁶ + y[4k+3], k < 8.
     * Q8_0 and Q8_1 take their blocks four at a time, as the 512-bit kernels of Q4_0, Q4_1, Q5_0
     * and Q5_1 do: per run of four blocks, 64 ints, the first halves of their even units (four
     * ints each, block by block), then the second halves, then the same of the odd units. Q8_K sets
     * the units of a block's eight groups g0..g7 side by side in pairs g and g + 2, as
     * E0 E2 O0 O2, E1 E3 O1 O3, E4 E6 O4 O6, E5 E7 O5 O7: the K-quants keep groups g and g + 2
     * 32 bytes apart, so one 512-bit load of their quants meets one 512-bit load of these.
     */
    public final int[] pairs;
    private int length;

    public QuantizedVector(ActivationFormat format, int capacity) {
        if (!format.quantized) {
            throw new IllegalArgumentException(format + " activations are not quantized");
        }
        this.format = format;
        int blocks = Math.ceilDiv(capacity, format.blockSize);
        this.q = new short[blocks * format.blockSize];
        boolean k = format == ActivationFormat.Q8_K;
        // Room for reading 16 scales or sums from the last round of four blocks on (see pairs).
        this.d = new float[k ? blocks : blocks + 12];
        this.sums = k ? null : new float[blocks + 12];
        this.sums16 = k ? new int[blocks * 16] : null;
        this.sums32 = k ? new int[blocks * 16] : null;
        this.pairs = new int[k ? blocks * 128 : Math.ceilDiv(blocks, 4) * 64];
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

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED
            .withShape(VectorShape.forBitSize(Math.min(512, FloatVector.SPECIES_PREFERRED.vectorBitSize())));
    private static final VectorSpecies<Integer> I = F.withLanes(int.class);
    /** Shorts with as many lanes as {@link #F}, for storing the rounded values. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    /** Adding then subtracting this rounds a float below 2^22 in magnitude to the nearest integer, ties to even. */
    private static final float ROUND = 0x1.8p23f;

    private void quantize32(float[] x, int offset, int n) {
        boolean withScaledSum = format == ActivationFormat.Q8_1;
        int lanes = F.length();
        for (int b = 0; b < n / 32; b++) {
            int base = offset + b * 32;
            FloatVector largest = FloatVector.zero(F);
            for (int i = 0; i < 32; i += lanes) {
                largest = largest.max(FloatVector.fromArray(F, x, base + i).abs());
            }
            float amax = largest.reduceLanes(VectorOperators.MAX);
            float scale = amax / 127f;
            float inverse = amax != 0 ? 127f / amax : 0f;
            IntVector sum = IntVector.zero(I);
            for (int i = 0; i < 32; i += lanes) {
                IntVector v = (IntVector) FloatVector.fromArray(F, x, base + i).mul(inverse).add(ROUND).sub(ROUND)
                        .convert(VectorOperators.F2I, 0);
                sum = sum.add(v);
                ((ShortVector) v.convertShape(VectorOperators.I2S, S, 0)).intoArray(q, b * 32 + i);
            }
            int total = sum.reduceLanes(VectorOperators.ADD);
            d[b] = Float.float16ToFloat(Float.floatToFloat16(scale));
            sums[b] = withScaledSum ? Float.float16ToFloat(Float.floatToFloat16(scale * total)) : total;
        }
        pair(n);
    }

    private void quantize256(float[] x, int offset, int n) {
        int lanes = F.length();
        for (int b = 0; b < n / 256; b++) {
            int base = offset + b * 256;
            FloatVector largest = FloatVector.zero(F);
            for (int i = 0; i < 256; i += lanes) {
                largest = largest.max(FloatVector.fromArray(F, x, base + i).abs());
            }
            float amax = largest.reduceLanes(VectorOperators.MAX);
            if (amax == 0) {
                java.util.Arrays.fill(q, b * 256, b * 256 + 256, (short) 0);
                java.util.Arrays.fill(sums16, b * 16, b * 16 + 16, 0);
                java.util.Arrays.fill(sums32, b * 16, b * 16 + 16, 0);
                d[b] = 0;
                continue;
            }
            // The scale takes the sign of the (first) largest-magnitude value, which maps to -127.
            float max = 0;
            for (int i = 0; i < 256; i++) {
                if (Math.abs(x[base + i]) == amax) {
                    max = x[base + i];
                    break;
                }
            }
            float inverse = -127f / max;
            for (int g = 0; g < 16; g++) {
                IntVector sum = IntVector.zero(I);
                for (int i = g * 16; i < g * 16 + 16; i += lanes) {
                    IntVector v = ((IntVector) FloatVector.fromArray(F, x, base + i).mul(inverse).add(ROUND).sub(ROUND)
                            .convert(VectorOperators.F2I, 0)).min(127);
                    sum = sum.add(v);
                    ((ShortVector) v.convertShape(VectorOperators.I2S, S, 0)).intoArray(q, b * 256 + i);
                }
                sums16[b * 16 + g] = sum.reduceLanes(VectorOperators.ADD);
            }
            for (int s = 0; s < 8; s++) {
                sums32[b * 16 + 8 + s] = sums16[b * 16 + 2 * s] + sums16[b * 16 + 2 * s + 1];
            }
            d[b] = 1 / inverse;
        }
        pair(n);
    }

    /** Fills {@link #pairs} from the first {@code n} values of {@link #q}. */
    private void pair(int n) {
        boolean k = format == ActivationFormat.Q8_K;
        for (int group = 0; group < n / 32; group++) {
            int y = 32 * group;
            int even = k ? kUnit(group) : roundUnit(group);
            for (int i = 0; i < 8; i++) {
                int at = k ? even + i : even + i % 4 + 16 * (i / 4);
                int odd = at + (k ? 16 : 32);
                pairs[at] = (q[y + 4 * i] << 16) + q[y + 4 * i + 2];
                pairs[odd] = (q[y + 4 * i + 1] << 16) + q[y + 4 * i + 3];
            }
        }
    }

    /**
     * Where the first four ints of block {@code block}'s even unit start in {@link #pairs}, for
     * Q8_0 and Q8_1; its next four are 16 ints on, its odd unit 32 ints on.
     */
    public static int roundUnit(int block) {
        return 64 * (block / 4) + 4 * (block % 4);
    }

    /** Where Q8_K's even unit of group {@code group} (of the whole vector) starts in {@link #pairs}. */
    private static int kUnit(int group) {
        int g = group % 8;
        return 128 * (group / 8) + 32 * (2 * (g / 4) + g % 2) + 8 * (g % 4 / 2);
    }
}
