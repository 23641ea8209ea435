package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.B_FOR_S;
import static dev.fathom.tensor.kernel.Lanes.F16;
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
            for (int e = 0; e < 256; e += 128) {
                long low = block + e / 2;
                long high = block + 128 + e / 4;
                for (int c = 0; c < 32; c += F.length()) {
                    ByteVector low0 = Lanes.bytesForFloats(src, low + c);
                    ByteVector low1 = Lanes.bytesForFloats(src, low + 32 + c);
                    ByteVector bits = Lanes.bytesForFloats(src, high + c);
                    for (int k = 0; k < 4; k++) {
                        ByteVector nibbles = (k & 1) == 0 ? low0 : low1;
                        ByteVector q = (k < 2 ? nibbles.and((byte) 0xF) : nibbles.lanewise(VectorOperators.LSHR, 4))
                                .or(bits.lanewise(VectorOperators.LSHR, 2 * k).and((byte) 3).lanewise(VectorOperators.LSHL, 4));
                        int at = e + 32 * k + c;
                        float scale = d * src.get(ValueLayout.JAVA_BYTE, block + 192 + at / 16);
                        ((FloatVector) q.convertShape(VectorOperators.B2F, F, 0)).sub(32f).mul(scale).intoArray(dst, out + at);
                    }
                }
            }
        }
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

    /**
     * Products are widened to ints in halves of the short vector; with 512-bit vectors each half
     * is one group of 16 with its own scale, with narrower ones each half lies inside one group.
     * Everything is in this one method so that the JIT compiles it whole (see {@link Lanes}).
     */
    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        int[] sums16 = qx.sums16;
        int half = I.length();
        FloatVector acc = FloatVector.zero(F);
        float offsets = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(w, block + 208) * qx.d[b];
            IntVector scaledSums = IntVector.zero(I);
            for (int g = 0; g < 16; g += I.length()) {
                scaledSums = scaledSums.add(((IntVector) Lanes.bytesForFloats(w, block + 192 + g)
                        .convertShape(VectorOperators.B2I, I, 0)).mul(IntVector.fromArray(I, sums16, b * 16 + g)));
            }
            int offsetSum = scaledSums.reduceLanes(VectorOperators.ADD);
            offsets += d * offsetSum;
            long scales = block + 192;
            int ab = b * BLOCK;
            for (int e = 0; e < 256; e += 128) {
                long low = block + e / 2;
                long high = block + 128 + e / 4;
                for (int c = 0; c < 32; c += S.length()) {
                    ShortVector low0 = (ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, low + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector low1 = (ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, low + 32 + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    ShortVector bits = (ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, high + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2S, S, 0);
                    int at = e + c;
                    ShortVector p0 = low0.and((short) 0xF).or(bits.and((short) 3).lanewise(VectorOperators.LSHL, 4))
                            .mul(ShortVector.fromArray(S, a, ab + at));
                    ShortVector p1 = low1.and((short) 0xF).or(bits.and((short) 0xC).lanewise(VectorOperators.LSHL, 2))
                            .mul(ShortVector.fromArray(S, a, ab + at + 32));
                    ShortVector p2 = low0.lanewise(VectorOperators.LSHR, 4).or(bits.and((short) 0x30))
                            .mul(ShortVector.fromArray(S, a, ab + at + 64));
                    ShortVector p3 = low1.lanewise(VectorOperators.LSHR, 4).or(bits.lanewise(VectorOperators.LSHR, 2).and((short) 0x30))
                            .mul(ShortVector.fromArray(S, a, ab + at + 96));
                    acc = ((FloatVector) p0.convertShape(VectorOperators.S2I, I, 0).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + at / 16)), acc);
                    acc = ((FloatVector) p0.convertShape(VectorOperators.S2I, I, 1).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + half) / 16)), acc);
                    acc = ((FloatVector) p1.convertShape(VectorOperators.S2I, I, 0).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + 32) / 16)), acc);
                    acc = ((FloatVector) p1.convertShape(VectorOperators.S2I, I, 1).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + 32 + half) / 16)), acc);
                    acc = ((FloatVector) p2.convertShape(VectorOperators.S2I, I, 0).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + 64) / 16)), acc);
                    acc = ((FloatVector) p2.convertShape(VectorOperators.S2I, I, 1).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + 64 + half) / 16)), acc);
                    acc = ((FloatVector) p3.convertShape(VectorOperators.S2I, I, 0).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + 96) / 16)), acc);
                    acc = ((FloatVector) p3.convertShape(VectorOperators.S2I, I, 1).convertShape(VectorOperators.I2F, F, 0))
                            .fma(FloatVector.broadcast(F, d * w.get(ValueLayout.JAVA_BYTE, scales + (at + 96 + half) / 16)), acc);
                }
            }
        }
        return acc.reduceLanes(VectorOperators.ADD) - 32 * offsets;
    }
}
