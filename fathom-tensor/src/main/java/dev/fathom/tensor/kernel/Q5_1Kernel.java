package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.FourBlocks.BLOCK_OF_LANE;
import static dev.fathom.tensor.kernel.FourBlocks.F16_EXPONENT_BIAS;
import static dev.fathom.tensor.kernel.FourBlocks.SW;
import static dev.fathom.tensor.kernel.Lanes.F16;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.INT;
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
 * Q5_1: blocks of 32 values, f16 scale d and minimum m, the fifth bits as in Q5_0, then
 * nibbles as in Q4_0; value = d · q + m.
 */
final class Q5_1Kernel extends WeightKernel {
    static final int BLOCK = 32;
    static final int BYTES = 24;

    @Override
    public GgmlType type() {
        return GgmlType.Q5_1;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_1;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(src, block);
            float m = Lanes.f16(src, block + 2);
            int high = src.get(ValueLayout.JAVA_INT_UNALIGNED, block + 4);
            int out = dstOffset + b * BLOCK;
            for (int c = 0; c < 16; c += F.length()) {
                ByteVector raw = Lanes.bytesForFloats(src, block + 8 + c);
                FloatVector lo = (FloatVector) raw.and((byte) 0xF).convertShape(VectorOperators.B2F, F, 0)
                        .add(FifthBits.spreadFloats(high >>> c));
                FloatVector hi = (FloatVector) raw.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.B2F, F, 0)
                        .add(FifthBits.spreadFloats(high >>> (16 + c)));
                lo.fma(d, m).intoArray(dst, out + c);
                hi.fma(d, m).intoArray(dst, out + 16 + c);
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            int base = srcOffset + b * BLOCK;
            long block = offset + (long) b * BYTES;
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < BLOCK; i++) {
                min = Math.min(min, src[base + i]);
                max = Math.max(max, src[base + i]);
            }
            float d = (max - min) / 31;
            float id = d != 0 ? 1 / d : 0;
            dst.set(F16, block, Float.floatToFloat16(d));
            dst.set(F16, block + 2, Float.floatToFloat16(min));
            int high = 0;
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(31, (int) ((src[base + j] - min) * id + 0.5f));
                int hi = Math.min(31, (int) ((src[base + j + 16] - min) * id + 0.5f));
                dst.set(ValueLayout.JAVA_BYTE, block + 8 + j, (byte) ((lo & 0xF) | (hi & 0xF) << 4));
                high |= (lo >> 4) << j | (hi >> 4) << (j + 16);
            }
            dst.set(ValueLayout.JAVA_INT_UNALIGNED, block + 4, high);
        }
    }

    /**
     * Paired products (see {@link Lanes}): a block's nibbles in four int lanes give four vectors
     * of quant pairs, whose products (at most 31 · 127 each, four to a lane) add up inside the
     * halves. The minimum adds m · d_y · Σ y. On 512-bit machines four blocks a round
     * ({@link FourBlocks}); blocks left over, and narrower machines, one by one.
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
            // Each lane's f16 scale and minimum as floats: sign, exponent and mantissa moved into place, then rebiased.
            FloatVector scale = SCALES.selectFrom(first, last).reinterpretAsInts().lanewise(VectorOperators.LSHL, 16)
                    .lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(F16_EXPONENT_BIAS)
                    .mul(FloatVector.fromArray(WF, qx.d, b).rearrange(BLOCK_OF_LANE));
            FloatVector minimum = MINIMUMS.selectFrom(first, last).reinterpretAsInts().lanewise(VectorOperators.LSHL, 16)
                    .lanewise(VectorOperators.ASHR, 3).and(0x8FFFE000).reinterpretAsFloats().mul(F16_EXPONENT_BIAS);
            // The fifth bits as in the one-block kernel below, in each block's four lanes.
            IntVector bits = HIGH_BITS.selectFrom(first, last).reinterpretAsInts()
                    .lanewise(VectorOperators.LSHR, FifthBits.ROUND_SHIFTS);
            IntVector bitsHigh = bits.lanewise(VectorOperators.LSHR, 16);
            int at = 16 * b;
            IntVector sum = v.and(0x000F000F).or(bits.and(5).mul(0x40010).and(0x00100010))
                    .mul(IntVector.fromArray(W, pairs, at))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).or(bitsHigh.and(5).mul(0x40010).and(0x00100010))
                            .mul(IntVector.fromArray(W, pairs, at + 16)))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).or(bits.and(0xA).mul(0x20008).and(0x00100010))
                            .mul(IntVector.fromArray(W, pairs, at + 32)))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).or(bitsHigh.and(0xA).mul(0x20008).and(0x00100010))
                            .mul(IntVector.fromArray(W, pairs, at + 48)));
            acc = ((FloatVector) sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(scale, acc);
            offsets = FloatVector.fromArray(WF, qx.sums, b).rearrange(BLOCK_OF_LANE).fma(minimum, offsets);
        }
        // Each block's minimum was taken in its four lanes.
        FloatVector sum = acc.add(offsets.mul(0.25f));
        sum = sum.add(sum.rearrange(WF_FOLD_0));
        sum = sum.add(sum.rearrange(WF_FOLD_1));
        sum = sum.add(sum.rearrange(WF_FOLD_2));
        return sum.lane(0) + sum.lane(1);
    }

    /**
     * The nibbles of a round's four blocks, and each block's fifth bits, scale and minimum (the
     * last two in the low half) in its lanes.
     */
    private static final ShortVector NIBBLES = FourBlocks.field(BYTES, 8, 4);
    private static final ShortVector HIGH_BITS = FourBlocks.field(BYTES, 4, 0);
    private static final ShortVector SCALES = FourBlocks.field(BYTES, 0, 0);
    private static final ShortVector MINIMUMS = FourBlocks.field(BYTES, 2, 0);

    private static float blockDot(MemorySegment w, long block, QuantizedVector qx, int b) {
        int[] pairs = qx.pairs;
        IntVector v = IntVector.fromMemorySegment(P4, w, block + 8, LE);
        int at = QuantizedVector.roundUnit(b);
        // Lane k: the fifth bits of values 4k to 4k + 3 in bits 0-3, of values 16 + 4k on in bits 16-19;
        // a multiply then moves a pair's two bits to bit 4 of each half (the stray copies masked off).
        IntVector bits = IntVector.broadcast(P4, w.get(INT, block + 4)).lanewise(VectorOperators.LSHR, FifthBits.NIBBLE_SHIFTS);
        IntVector bitsHigh = bits.lanewise(VectorOperators.LSHR, 16);
        IntVector sum = v.and(0x000F000F).or(bits.and(5).mul(0x40010).and(0x00100010)).mul(IntVector.fromArray(P4, pairs, at))
                .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).or(bitsHigh.and(5).mul(0x40010).and(0x00100010))
                        .mul(IntVector.fromArray(P4, pairs, at + 16)))
                .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).or(bits.and(0xA).mul(0x20008).and(0x00100010))
                        .mul(IntVector.fromArray(P4, pairs, at + 32)))
                .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).or(bitsHigh.and(0xA).mul(0x20008).and(0x00100010))
                        .mul(IntVector.fromArray(P4, pairs, at + 48)));
        float scale = Float.float16ToFloat(w.get(F16, block)) * qx.d[b];
        return scale * sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).reduceLanes(VectorOperators.ADD)
                + Float.float16ToFloat(w.get(F16, block + 2)) * qx.sums[b];
    }
}
