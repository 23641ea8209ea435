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

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        FloatVector acc = FloatVector.zero(F);
        float offsets = 0;
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            int ab = b * BLOCK;
            IntVector sum = IntVector.zero(I);
            for (int c = 0; c < 16; c += S16.length()) {
                ShortVector raw = (ShortVector) ByteVector.fromMemorySegment(B_FOR_S16, w, block + 2 + c, LE)
                        .convertShape(VectorOperators.B2S, S16, 0);
                ShortVector lo = raw.and((short) 0xF);
                ShortVector hi = raw.lanewise(VectorOperators.LSHR, 4).and((short) 0xF);
                ShortVector products = lo.mul(ShortVector.fromArray(S16, a, ab + c))
                        .add(hi.mul(ShortVector.fromArray(S16, a, ab + 16 + c)));
                sum = sum.add(products.convertShape(VectorOperators.S2I, I, 0));
                if (S16.length() > I.length()) {
                    sum = sum.add(products.convertShape(VectorOperators.S2I, I, 1));
                }
            }
            float scale = Lanes.f16(w, block) * qx.d[b];
            acc = ((FloatVector) sum.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, scale), acc);
            offsets += scale * qx.sums[b];
        }
        return acc.reduceLanes(VectorOperators.ADD) - 8 * offsets;
    }
}
