package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.FourBlocks.BLOCK_OF_LANE;
import static dev.fathom.tensor.kernel.FourBlocks.F16_EXPONENT_BIAS;
import static dev.fathom.tensor.kernel.FourBlocks.SW;
import static dev.fathom.tensor.kernel.Lanes.F16;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.P4;
import static dev.fathom.tensor.kernel.Lanes.W;
import static dev.fathom.tensor.kernel.Lanes.WF;
import static dev.fathom.tensor.kernel.Lanes.WF_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.WF_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.WF_FOLD_2;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_0: blocks of 32 values, an f16 scale d then 16 bytes of nibbles; the low nibble of byte j
 * is value j, the high nibble value j + 16; value = d · (q − 8).
 */
final class Q4_0Kernel extends WeightKernel {
    static final int BLOCK = 32;
    static final int BYTES = 18;

    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_0;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(src, block);
            int out = dstOffset + b * BLOCK;
            for (int c = 0; c < 16; c += F.length()) {
                ByteVector raw = Lanes.bytesForFloats(src, block + 2 + c);
                FloatVector lo = (FloatVector) raw.and((byte) 0xF).convertShape(VectorOperators.B2F, F, 0);
                FloatVector hi = (FloatVector) raw.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.B2F, F, 0);
                lo.sub(8f).mul(d).intoArray(dst, out + c);
                hi.sub(8f).mul(d).intoArray(dst, out + 16 + c);
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            int base = srcOffset + b * BLOCK;
            long block = offset + (long) b * BYTES;
            // The value of largest magnitude maps to -8, the one end of the range that is exact.
            float max = 0;
            for (int i = 0; i < BLOCK; i++) {
                if (Math.abs(src[base + i]) > Math.abs(max)) {
                    max = src[base + i];
                }
            }
            float d = max / -8;
            float id = d != 0 ? 1 / d : 0;
            dst.set(F16, block, Float.floatToFloat16(d));
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(15, (int) (src[base + j] * id + 8.5f));
                int hi = Math.min(15, (int) (src[base + j + 16] * id + 8.5f));
                dst.set(ValueLayout.JAVA_BYTE, block + 2 + j, (byte) (lo | hi << 4));
            }
        }
    }

    /**
     * Paired products (see {@link Lanes}): a block's nibbles in four int lanes give four vectors
     * of quant pairs, whose products (at most 15 · 127 each, four to a lane) add up inside the
     * halves. The quants are kept unsigned and the −8 applied as −8 · Σ y. On 512-bit machines
     * four blocks a round ({@link FourBlocks}); blocks left over, and narrower machines, one by one.
     */
    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        int blocks = n / BLOCK;
        int b = Lanes.WIDE ? blocks / 4 * 4 : 0;
        float total = Lanes.WIDE ? dotRounds(w, offset, qx, b) : 0;
        for (; b < blocks; b++) {
            total += blockDot(w, offset + (long) b * BYTES, qx, b);
        }
        return total;
    }

    /**
     * The first {@code blocks} blocks (a multiple of four) in rounds of four. A method of its own,
     * so that rows with blocks left over do not make C2 recompile it.
     */
    private static float dotRounds(MemorySegment w, long offset, QuantizedVector qx, int blocks) {
        int[] pairs = qx.pairs;
        FloatVector acc = FloatVector.zero(WF);
        FloatVector offsets = FloatVector.zero(WF);
        for (int b = 0; b < blocks; b += 4) {
            long round = offset + (long) b * BYTES;
            ShortVector first = ShortVector.fromMemorySegment(SW, w, round, LE);
            ShortVector last = ShortVector.fromMemorySegment(SW, w, round + 4 * BYTES - 64, LE);
            IntVector v = NIBBLES.selectFrom(first, last).reinterpretAsInts();
            // Each lane's f16 scale as a float: sign, exponent and mantissa moved into place, then rebiased.
            FloatVector scale = SCALES.selectFrom(first, last).reinterpretAsInts().lanewise(VectorOperators.LSHL, 16)
                    .lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(F16_EXPONENT_BIAS)
                    .mul(FloatVector.fromArray(WF, qx.d, b).rearrange(BLOCK_OF_LANE));
            int at = 16 * b;
            IntVector sum = v.and(0x000F000F).mul(IntVector.fromArray(W, pairs, at))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(W, pairs, at + 16)))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(W, pairs, at + 32)))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(W, pairs, at + 48)));
            acc = ((FloatVector) sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(scale, acc);
            offsets = FloatVector.fromArray(WF, qx.sums, b).rearrange(BLOCK_OF_LANE).fma(scale, offsets);
        }
        // Each block's offset was taken in its four lanes.
        FloatVector sum = acc.sub(offsets.mul(2));
        sum = sum.add(sum.rearrange(WF_FOLD_0));
        sum = sum.add(sum.rearrange(WF_FOLD_1));
        sum = sum.add(sum.rearrange(WF_FOLD_2));
        return sum.lane(0) + sum.lane(1);
    }

    /**
     * On 512-bit vectors, rows go in pairs ({@link WeightKernel#dotRows}): the activations' pairs,
     * scales and sums of a round are loaded and spread once for both rows.
     */
    @Override
    boolean takesRowPairs() {
        return Lanes.WIDE;
    }

    /**
     * {@link #dot} for two rows, at byte offsets {@code a} and {@code b}: each row's sums and
     * accumulators are those of {@link #dotRounds} and the one-block tail, in the same order, so
     * each result is bit for bit what it gets alone.
     */
    @Override
    void dotRowPair(MemorySegment w, long a, long b, QuantizedVector qx, int n, float[] out, int at, int nextOut) {
        int blocks = n / BLOCK;
        int rounds = blocks / 4 * 4;
        dotRoundsOfPair(w, a, b, qx, rounds, out, at, nextOut);
        for (int k = rounds; k < blocks; k++) {
            out[at] += blockDot(w, a + (long) k * BYTES, qx, k);
            out[at + nextOut] += blockDot(w, b + (long) k * BYTES, qx, k);
        }
    }

    /** {@link #dotRounds} for rows at {@code a} and {@code b}, results to {@code out[at]} and {@code out[at + nextOut]}. */
    private static void dotRoundsOfPair(MemorySegment w, long a, long b, QuantizedVector qx, int blocks, float[] out, int at,
            int nextOut) {
        int[] pairs = qx.pairs;
        FloatVector accA = FloatVector.zero(WF), offsetsA = FloatVector.zero(WF);
        FloatVector accB = FloatVector.zero(WF), offsetsB = FloatVector.zero(WF);
        for (int k = 0; k < blocks; k += 4) {
            FloatVector dx = FloatVector.fromArray(WF, qx.d, k).rearrange(BLOCK_OF_LANE);
            FloatVector sums = FloatVector.fromArray(WF, qx.sums, k).rearrange(BLOCK_OF_LANE);
            IntVector y0 = IntVector.fromArray(W, pairs, 16 * k);
            IntVector y1 = IntVector.fromArray(W, pairs, 16 * k + 16);
            IntVector y2 = IntVector.fromArray(W, pairs, 16 * k + 32);
            IntVector y3 = IntVector.fromArray(W, pairs, 16 * k + 48);
            long round = a + (long) k * BYTES;
            ShortVector first = ShortVector.fromMemorySegment(SW, w, round, LE);
            ShortVector last = ShortVector.fromMemorySegment(SW, w, round + 4 * BYTES - 64, LE);
            IntVector v = NIBBLES.selectFrom(first, last).reinterpretAsInts();
            FloatVector scale = SCALES.selectFrom(first, last).reinterpretAsInts().lanewise(VectorOperators.LSHL, 16)
                    .lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(F16_EXPONENT_BIAS).mul(dx);
            IntVector sum = v.and(0x000F000F).mul(y0)
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(y1))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(y2))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(y3));
            accA = ((FloatVector) sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(scale, accA);
            offsetsA = sums.fma(scale, offsetsA);
            round = b + (long) k * BYTES;
            first = ShortVector.fromMemorySegment(SW, w, round, LE);
            last = ShortVector.fromMemorySegment(SW, w, round + 4 * BYTES - 64, LE);
            v = NIBBLES.selectFrom(first, last).reinterpretAsInts();
            scale = SCALES.selectFrom(first, last).reinterpretAsInts().lanewise(VectorOperators.LSHL, 16)
                    .lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(F16_EXPONENT_BIAS).mul(dx);
            sum = v.and(0x000F000F).mul(y0)
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(y1))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(y2))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(y3));
            accB = ((FloatVector) sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(scale, accB);
            offsetsB = sums.fma(scale, offsetsB);
        }
        FloatVector sumA = accA.sub(offsetsA.mul(2));
        FloatVector sumB = accB.sub(offsetsB.mul(2));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_0));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_0));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_1));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_1));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_2));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_2));
        out[at] = sumA.lane(0) + sumA.lane(1);
        out[at + nextOut] = sumB.lane(0) + sumB.lane(1);
    }

    /** The nibbles of a round's four blocks, and each block's scale in the low half of its lanes. */
    private static final ShortVector NIBBLES = FourBlocks.field(BYTES, 2, 4);
    private static final ShortVector SCALES = FourBlocks.field(BYTES, 0, 0);

    private static float blockDot(MemorySegment w, long block, QuantizedVector qx, int b) {
        int[] pairs = qx.pairs;
        IntVector v = IntVector.fromMemorySegment(P4, w, block + 2, LE);
        int at = QuantizedVector.roundUnit(b);
        IntVector sum = v.and(0x000F000F).mul(IntVector.fromArray(P4, pairs, at))
                .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(P4, pairs, at + 16)))
                .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(P4, pairs, at + 32)))
                .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(P4, pairs, at + 48)));
        float scale = Float.float16ToFloat(w.get(F16, block)) * qx.d[b];
        return scale * (sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).reduceLanes(VectorOperators.ADD) - 8 * qx.sums[b]);
    }
}
