package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F16;
import static dev.fathom.tensor.kernel.Lanes.INT;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.P4;
import static dev.fathom.tensor.kernel.Lanes.PF4;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
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
     * Paired products (see {@link Lanes}): the block's nibbles in four int lanes give four vectors of quant pairs, whose products (at most 31 · 127 each, four to a lane) add up inside the halves. The minimum adds m · d_y · Σ y.
     */
    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        int[] pairs = qx.pairs;
        FloatVector acc = FloatVector.zero(PF4);
        float offsets = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            IntVector v = IntVector.fromMemorySegment(P4, w, block + 8, LE);
            int at = 16 * b;
            // Lane k: the fifth bits of values 4k to 4k + 3 in bits 0-3, of values 16 + 4k on in bits 16-19;
            // a multiply then moves a pair's two bits to bit 4 of each half (the stray copies masked off).
            IntVector bits = IntVector.broadcast(P4, w.get(INT, block + 4)).lanewise(VectorOperators.LSHR, FifthBits.NIBBLE_SHIFTS);
            IntVector bitsHigh = bits.lanewise(VectorOperators.LSHR, 16);
            IntVector sum = v.and(0x000F000F).or(bits.and(5).mul(0x40010).and(0x00100010))
                    .mul(IntVector.fromArray(P4, pairs, at))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).or(bits.and(0xA).mul(0x20008).and(0x00100010))
                            .mul(IntVector.fromArray(P4, pairs, at + 8)))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).or(bitsHigh.and(5).mul(0x40010).and(0x00100010))
                            .mul(IntVector.fromArray(P4, pairs, at + 4)))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).or(bitsHigh.and(0xA).mul(0x20008).and(0x00100010))
                            .mul(IntVector.fromArray(P4, pairs, at + 12)));
            float scale = Float.float16ToFloat(w.get(F16, block)) * qx.d[b];
            acc = ((FloatVector) sum.add(0x8000).lanewise(VectorOperators.ASHR, 16).convertShape(VectorOperators.I2F, PF4, 0))
                    .fma(FloatVector.broadcast(PF4, scale), acc);
            offsets += Float.float16ToFloat(w.get(F16, block + 2)) * qx.sums[b];
        }
        return acc.reduceLanes(VectorOperators.ADD) + offsets;
    }
}
