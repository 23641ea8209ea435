package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F16;
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
 * Q6_K: super-blocks of 256 values in 16 groups of 16. 128 bytes of low nibbles, 64 bytes of
 * 2-bit high parts, 16 signed 8-bit group scales, then an f16 d; value = d · scale · (q − 32).
 * Each half of 128 values uses 64 nibble bytes and 32 high bytes: nibble byte l holds values l
 * (low) and l + 64 (high), byte l + 32 values l + 32 and l + 96; high byte l holds bits 4-5 of
 * values l, l + 32, l + 64 and l + 96 in its bit pairs 0, 2, 4 and 6.
 */
final class Q6_KKernel extends WeightKernel {
    static final int BLOCK = 256;
    static final int BYTES = 210;

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(src, block + 208);
            int out = dstOffset + b * BLOCK;
            for (int half = 0; half < 2; half++) {
                long low = block + 64 * half;
                long high = block + 128 + 32 * half;
                for (int l = 0; l < 32; l++) {
                    int lo0 = src.get(ValueLayout.JAVA_BYTE, low + l);
                    int lo1 = src.get(ValueLayout.JAVA_BYTE, low + l + 32);
                    int h = src.get(ValueLayout.JAVA_BYTE, high + l);
                    int e = 128 * half + l;
                    dst[out + e] = d * scale(src, block, e) * (((lo0 & 0xF) | (h & 3) << 4) - 32);
                    dst[out + e + 32] = d * scale(src, block, e + 32) * (((lo1 & 0xF) | ((h >> 2) & 3) << 4) - 32);
                    dst[out + e + 64] = d * scale(src, block, e + 64) * ((((lo0 >> 4) & 0xF) | ((h >> 4) & 3) << 4) - 32);
                    dst[out + e + 96] = d * scale(src, block, e + 96) * ((((lo1 >> 4) & 0xF) | ((h >> 6) & 3) << 4) - 32);
                }
            }
        }
    }

    /** The signed scale of the group of 16 that holds value {@code e} of the block. */
    private static int scale(MemorySegment src, long block, int e) {
        return src.get(ValueLayout.JAVA_BYTE, block + 192 + e / 16);
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int[] q = new int[BLOCK];
        byte[] scaleCodes = new byte[16];
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = KQuantizer.symmetric6(src, srcOffset + b * BLOCK, q, scaleCodes);
            for (int half = 0; half < 2; half++) {
                for (int l = 0; l < 32; l++) {
                    int e = 128 * half + l;
                    int q0 = q[e];
                    int q1 = q[e + 32];
                    int q2 = q[e + 64];
                    int q3 = q[e + 96];
                    dst.set(ValueLayout.JAVA_BYTE, block + 64 * half + l, (byte) ((q0 & 0xF) | (q2 & 0xF) << 4));
                    dst.set(ValueLayout.JAVA_BYTE, block + 64 * half + l + 32, (byte) ((q1 & 0xF) | (q3 & 0xF) << 4));
                    dst.set(ValueLayout.JAVA_BYTE, block + 128 + 32 * half + l,
                            (byte) ((q0 >> 4) | (q1 >> 4) << 2 | (q2 >> 4) << 4 | (q3 >> 4) << 6));
                }
            }
            MemorySegment.copy(scaleCodes, 0, dst, ValueLayout.JAVA_BYTE, block + 192, 16);
            dst.set(F16, block + 208, Float.floatToFloat16(d));
        }
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        float[] sums = qx.sums;
        FloatVector acc = FloatVector.zero(F);
        float offsets = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(w, block + 208) * qx.d[b];
            int ab = b * BLOCK;
            for (int half = 0; half < 2; half++) {
                for (int c = 0; c < 32; c += S.length()) {
                    ShortVector low0 = Lanes.bytesToShorts(w, block + 64 * half + c);
                    ShortVector low1 = Lanes.bytesToShorts(w, block + 64 * half + 32 + c);
                    ShortVector high = Lanes.bytesToShorts(w, block + 128 + 32 * half + c);
                    int e = 128 * half + c;
                    ShortVector q0 = low0.and((short) 0xF).or(high.and((short) 3).lanewise(VectorOperators.LSHL, 4));
                    ShortVector q1 = low1.and((short) 0xF).or(high.and((short) 0xC).lanewise(VectorOperators.LSHL, 2));
                    ShortVector q2 = low0.lanewise(VectorOperators.LSHR, 4).and((short) 0xF).or(high.and((short) 0x30));
                    ShortVector q3 = low1.lanewise(VectorOperators.LSHR, 4).and((short) 0xF)
                            .or(high.lanewise(VectorOperators.LSHR, 2).and((short) 0x30));
                    acc = accumulateGroups(q0.mul(ShortVector.fromArray(S, a, ab + e)), w, block, e, d, acc);
                    acc = accumulateGroups(q1.mul(ShortVector.fromArray(S, a, ab + e + 32)), w, block, e + 32, d, acc);
                    acc = accumulateGroups(q2.mul(ShortVector.fromArray(S, a, ab + e + 64)), w, block, e + 64, d, acc);
                    acc = accumulateGroups(q3.mul(ShortVector.fromArray(S, a, ab + e + 96)), w, block, e + 96, d, acc);
                }
            }
            int groupSum = 0;
            for (int g = 0; g < 16; g++) {
                groupSum += w.get(ValueLayout.JAVA_BYTE, block + 192 + g) * (int) sums[b * 16 + g];
            }
            offsets += d * groupSum;
        }
        return acc.reduceLanes(VectorOperators.ADD) - 32 * offsets;
    }

    /**
     * Adds the products of values e.. of the block, each int-vector part scaled by its group's
     * scale (a part never spans two groups of 16).
     */
    private static FloatVector accumulateGroups(ShortVector products, MemorySegment w, long block, int e,
            float d, FloatVector acc) {
        int parts = products.length() / I.length();
        for (int p = 0; p < parts; p++) {
            IntVector part = (IntVector) products.convertShape(VectorOperators.S2I, I, p);
            acc = Lanes.fmaInts(part, d * scale(w, block, e + p * I.length()), acc);
        }
        return acc;
    }
}
