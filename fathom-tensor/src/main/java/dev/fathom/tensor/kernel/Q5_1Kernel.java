package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.B_FOR_S16;
import static dev.fathom.tensor.kernel.Lanes.F16;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.S16;

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

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        FloatVector acc = FloatVector.zero(F);
        float offsets = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            int high = w.get(ValueLayout.JAVA_INT_UNALIGNED, block + 4);
            int ab = b * BLOCK;
            IntVector sum = IntVector.zero(I);
            for (int c = 0; c < 16; c += S16.length()) {
                ShortVector raw = (ShortVector) ByteVector.fromMemorySegment(B_FOR_S16, w, block + 8 + c, LE)
                        .convertShape(VectorOperators.B2S, S16, 0);
                ShortVector lo = raw.and((short) 0xF).or(ShortVector.zero(S16).blend((short) 16,
                        ShortVector.broadcast(S16, (short) (high >>> c)).and(FifthBits.LANE_BITS).compare(VectorOperators.NE, 0)));
                ShortVector hi = raw.lanewise(VectorOperators.LSHR, 4).and((short) 0xF).or(ShortVector.zero(S16).blend((short) 16,
                        ShortVector.broadcast(S16, (short) (high >>> (16 + c))).and(FifthBits.LANE_BITS).compare(VectorOperators.NE, 0)));
                ShortVector products = lo.mul(ShortVector.fromArray(S16, a, ab + c))
                        .add(hi.mul(ShortVector.fromArray(S16, a, ab + 16 + c)));
                sum = sum.add(products.convertShape(VectorOperators.S2I, I, 0));
                if (S16.length() > I.length()) {
                    sum = sum.add(products.convertShape(VectorOperators.S2I, I, 1));
                }
            }
            float scale = Lanes.f16(w, block) * qx.d[b];
            acc = ((FloatVector) sum.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, scale), acc);
            offsets += Lanes.f16(w, block + 2) * qx.sums[b];
        }
        return acc.reduceLanes(VectorOperators.ADD) + offsets;
    }
}
