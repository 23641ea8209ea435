package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.S_FOR_I;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/** IEEE half precision. */
final class F16Kernel extends WeightKernel {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Override
    public GgmlType type() {
        return GgmlType.F16;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.F32;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOffset + i] = Float.float16ToFloat(src.get(SHORT, offset + 2L * i));
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(SHORT, offset + 2L * i, Float.floatToFloat16(src[srcOffset + i]));
        }
    }

    /**
     * Widens halves to floats with integer operations (the Vector API has no f16 conversion):
     * normal numbers move their exponent bias from 15 to 127, subnormals are scaled from their
     * integer mantissa, infinities and NaNs keep an all-ones exponent.
     */
    static FloatVector toFloats(MemorySegment w, long offset) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S_FOR_I, w, offset, LE)
                .convertShape(VectorOperators.ZERO_EXTEND_S2I, I, 0);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector magnitude = h.and(0x7fff);
        IntVector bits = magnitude.lanewise(VectorOperators.LSHL, 13).add(0x38000000);
        VectorMask<Integer> special = magnitude.compare(VectorOperators.GE, 0x7c00);
        bits = bits.blend(magnitude.lanewise(VectorOperators.LSHL, 13).or(0x7f800000), special);
        FloatVector normal = bits.or(sign).reinterpretAsFloats();
        VectorMask<Integer> subnormal = magnitude.compare(VectorOperators.LT, 0x0400);
        FloatVector tiny = ((FloatVector) magnitude.convertShape(VectorOperators.I2F, F, 0)).mul(0x1p-24f)
                .lanewise(VectorOperators.NEG, sign.compare(VectorOperators.NE, 0).cast(F));
        return normal.blend(tiny, subnormal.cast(F));
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        FloatVector acc = FloatVector.zero(F);
        int step = F.length();
        int i = 0;
        for (; i + step <= n; i += step) {
            acc = toFloats(w, offset + 2L * i).fma(FloatVector.fromArray(F, x, xOffset + i), acc);
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += Float.float16ToFloat(w.get(SHORT, offset + 2L * i)) * x[xOffset + i];
        }
        return sum;
    }
}
