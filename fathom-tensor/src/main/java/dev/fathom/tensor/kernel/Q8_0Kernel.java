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

/** Q8_0: blocks of 32 values, an f16 scale d then 32 int8 quants; value = d · q. */
final class Q8_0Kernel extends WeightKernel {
    static final int BLOCK = 32;
    static final int BYTES = 34;

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
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
            for (int c = 0; c < BLOCK; c += F.length()) {
                ((FloatVector) Lanes.bytesForFloats(src, block + 2 + c)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(d).intoArray(dst, dstOffset + b * BLOCK + c);
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            int base = srcOffset + b * BLOCK;
            long block = offset + (long) b * BYTES;
            float amax = 0;
            for (int i = 0; i < BLOCK; i++) {
                amax = Math.max(amax, Math.abs(src[base + i]));
            }
            float d = amax / 127;
            float id = d != 0 ? 1 / d : 0;
            dst.set(F16, block, Float.floatToFloat16(d));
            for (int i = 0; i < BLOCK; i++) {
                float x = src[base + i] * id;
                // roundf, as ggml's reference quantizer: ties away from zero (Math.round takes them up).
                dst.set(ValueLayout.JAVA_BYTE, block + 2 + i, (byte) Math.copySign(Math.round(Math.abs(x)), x));
            }
        }
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        float[] ad = qx.d;
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            IntVector sum = IntVector.zero(I);
            for (int c = 0; c < BLOCK; c += S.length()) {
                // Adjacent short products summed into one int lane: the low one sign-extended, the high one shifted down.
                IntVector products = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, block + 2 + c, LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, b * BLOCK + c))
                        .reinterpretAsInts();
                sum = sum.add(products.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16))
                        .add(products.lanewise(VectorOperators.ASHR, 16));
            }
            float scale = Lanes.f16(w, block) * ad[b];
            acc = ((FloatVector) sum.convertShape(VectorOperators.I2F, F, 0)).fma(FloatVector.broadcast(F, scale), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}
