package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I;
import static dev.fathom.tensor.kernel.Lanes.S;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q5_K: Q4_K with a fifth bit. An f16 d and dmin, 12 bytes of packed scales ({@link KScales}),
 * 32 bytes of high bits (bit 2j of byte l is the fifth bit of value l of sub-block 2j, bit 2j+1
 * that of value l of sub-block 2j+1), then 128 bytes of nibbles as in Q4_K.
 */
final class Q5_KKernel extends WeightKernel {
    static final int BLOCK = 256;
    static final int BYTES = 176;

    @Override
    public GgmlType type() {
        return GgmlType.Q5_K;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(src, block);
            float dmin = Lanes.f16(src, block + 2);
            KScales scales = KScales.read(src, block + 4);
            int out = dstOffset + b * BLOCK;
            for (int j = 0; j < 4; j++) {
                float d0 = d * scales.scale(2 * j);
                float m0 = dmin * scales.min(2 * j);
                float d1 = d * scales.scale(2 * j + 1);
                float m1 = dmin * scales.min(2 * j + 1);
                for (int l = 0; l < 32; l++) {
                    int q = src.get(ValueLayout.JAVA_BYTE, block + 48 + 32 * j + l);
                    int h = src.get(ValueLayout.JAVA_BYTE, block + 16 + l);
                    dst[out + 64 * j + l] = d0 * ((q & 0xF) | ((h >> (2 * j)) & 1) << 4) - m0;
                    dst[out + 64 * j + 32 + l] = d1 * (((q >> 4) & 0xF) | ((h >> (2 * j + 1)) & 1) << 4) - m1;
                }
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int[] q = new int[BLOCK];
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            KQuantizer.scaleAndMin(src, srcOffset + b * BLOCK, 31, q, dst, block);
            byte[] high = new byte[32];
            for (int j = 0; j < 4; j++) {
                for (int l = 0; l < 32; l++) {
                    int first = q[64 * j + l];
                    int second = q[64 * j + 32 + l];
                    dst.set(ValueLayout.JAVA_BYTE, block + 48 + 32 * j + l, (byte) ((first & 0xF) | (second & 0xF) << 4));
                    high[l] |= (byte) ((first >> 4) << (2 * j) | (second >> 4) << (2 * j + 1));
                }
            }
            MemorySegment.copy(high, 0, dst, ValueLayout.JAVA_BYTE, block + 16, 32);
        }
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(w, block) * qx.d[b];
            float dmin = Lanes.f16(w, block + 2) * qx.d[b];
            KScales scales = KScales.read(w, block + 4);
            int ab = b * BLOCK;
            int groups = b * 16;
            for (int j = 0; j < 4; j++) {
                IntVector first = IntVector.zero(I);
                IntVector second = IntVector.zero(I);
                for (int c = 0; c < 32; c += S.length()) {
                    ShortVector raw = Lanes.bytesToShorts(w, block + 48 + 32 * j + c);
                    ShortVector high = Lanes.bytesToShorts(w, block + 16 + c);
                    ShortVector q0 = raw.and((short) 0xF)
                            .or(high.lanewise(VectorOperators.LSHR, 2 * j).and((short) 1).lanewise(VectorOperators.LSHL, 4));
                    ShortVector q1 = raw.lanewise(VectorOperators.LSHR, 4).and((short) 0xF)
                            .or(high.lanewise(VectorOperators.LSHR, 2 * j + 1).and((short) 1).lanewise(VectorOperators.LSHL, 4));
                    first = Lanes.addWidened(first, q0.mul(ShortVector.fromArray(S, a, ab + 64 * j + c)));
                    second = Lanes.addWidened(second, q1.mul(ShortVector.fromArray(S, a, ab + 64 * j + 32 + c)));
                }
                acc = Lanes.fmaInts(first, d * scales.scale(2 * j), acc);
                acc = Lanes.fmaInts(second, d * scales.scale(2 * j + 1), acc);
                float[] sums = qx.sums;
                mins += dmin * (scales.min(2 * j) * (sums[groups + 4 * j] + sums[groups + 4 * j + 1])
                        + scales.min(2 * j + 1) * (sums[groups + 4 * j + 2] + sums[groups + 4 * j + 3]));
            }
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }
}
