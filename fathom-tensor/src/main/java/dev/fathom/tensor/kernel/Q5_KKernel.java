package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.B_FOR_S;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.S;

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
            long low = src.get(ValueLayout.JAVA_LONG_UNALIGNED, block + 4);
            int high = src.get(ValueLayout.JAVA_INT_UNALIGNED, block + 12);
            long scales = KScales.scales(low, high);
            long mins = KScales.mins(low, high);
            int out = dstOffset + b * BLOCK;
            for (int j = 0; j < 4; j++) {
                float d0 = d * (int) (scales >>> (16 * j) & 0xFF);
                float m0 = -dmin * (int) (mins >>> (16 * j) & 0xFF);
                float d1 = d * (int) (scales >>> (16 * j + 8) & 0xFF);
                float m1 = -dmin * (int) (mins >>> (16 * j + 8) & 0xFF);
                for (int c = 0; c < 32; c += F.length()) {
                    ByteVector raw = Lanes.bytesForFloats(src, block + 48 + 32 * j + c);
                    ByteVector fifth = Lanes.bytesForFloats(src, block + 16 + c)
                            .lanewise(VectorOperators.LSHR, 2 * j);
                    ((FloatVector) raw.and((byte) 0xF).or(fifth.and((byte) 1).lanewise(VectorOperators.LSHL, 4))
                            .convertShape(VectorOperators.B2F, F, 0)).fma(d0, m0).intoArray(dst, out + 64 * j + c);
                    ((FloatVector) raw.lanewise(VectorOperators.LSHR, 4).or(fifth.and((byte) 2).lanewise(VectorOperators.LSHL, 3))
                            .convertShape(VectorOperators.B2F, F, 0)).fma(d1, m1).intoArray(dst, out + 64 * j + 32 + c);
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
        int[] sums32 = qx.sums32;
        FloatVector acc = FloatVector.zero(F);
        float minTerm = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(w, block) * qx.d[b];
            float dmin = Lanes.f16(w, block + 2) * qx.d[b];
            long low = w.get(ValueLayout.JAVA_LONG_UNALIGNED, block + 4);
            int high = w.get(ValueLayout.JAVA_INT_UNALIGNED, block + 12);
            long codes = KScales.scales(low, high); // the eight 6-bit scales, one byte each
            long minCodes = KScales.mins(low, high);
            int mins = 0;
            for (int s = 0; s < 8; s++) {
                mins += (int) (minCodes >>> (8 * s) & 0xFF) * sums32[b * 8 + s];
            }
            minTerm += dmin * mins;
            int ab = b * BLOCK;
            IntVector total = IntVector.zero(I);
            for (int j = 0; j < 4; j++) {
                IntVector first = IntVector.zero(I);
                IntVector second = IntVector.zero(I);
                for (int c = 0; c < 32; c += S.length()) {
                    ShortVector raw = (ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, block + 48 + 32 * j + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector fifth = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, block + 16 + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0)).lanewise(VectorOperators.LSHR, 2 * j);
                    IntVector p0 = raw.and((short) 0xF).or(fifth.and((short) 1).lanewise(VectorOperators.LSHL, 4))
                            .mul(ShortVector.fromArray(S, a, ab + 64 * j + c)).reinterpretAsInts();
                    IntVector p1 = raw.lanewise(VectorOperators.LSHR, 4).or(fifth.and((short) 2).lanewise(VectorOperators.LSHL, 3))
                            .mul(ShortVector.fromArray(S, a, ab + 64 * j + 32 + c)).reinterpretAsInts();
                    // Adjacent short products summed into one int lane: the low one sign-extended, the high one shifted down.
                    first = first.add(p0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16))
                            .add(p0.lanewise(VectorOperators.ASHR, 16));
                    second = second.add(p1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16))
                            .add(p1.lanewise(VectorOperators.ASHR, 16));
                }
                // Sub-block sums times their 6-bit scales stay inside an int: at most 32·31·127·63·8.
                total = total.add(first.mul((int) (codes >>> (16 * j) & 0xFF)))
                        .add(second.mul((int) (codes >>> (16 * j + 8) & 0xFF)));
            }
            acc = ((FloatVector) total.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, d), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD) - minTerm;
    }
}
