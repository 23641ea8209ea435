package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_2;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_COUNT;
import static dev.fathom.tensor.kernel.Lanes.I;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.S_FOR_I;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** bfloat16: the top half of an f32, so widening is a shift. */
final class BF16Kernel extends WeightKernel {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Override
    public GgmlType type() {
        return GgmlType.BF16;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.BF16;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (; i + F.length() <= n; i += F.length()) {
            ShortVector.fromMemorySegment(S_FOR_I, src, offset + 2L * i, LE).convertShape(VectorOperators.S2I, I, 0)
                    .lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, dstOffset + i);
        }
        for (; i < n; i++) {
            dst[dstOffset + i] = Bf16.toFloat(src.get(SHORT, offset + 2L * i));
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(SHORT, offset + 2L * i, Bf16.fromFloat(src[srcOffset + i]));
        }
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        FloatVector acc = FloatVector.zero(F);
        int step = F.length();
        int i = 0;
        for (; i + step <= n; i += step) {
            FloatVector wv = ShortVector.fromMemorySegment(S_FOR_I, w, offset + 2L * i, LE)
                    .convertShape(VectorOperators.S2I, I, 0)
                    .lanewise(VectorOperators.LSHL, 16)
                    .reinterpretAsFloats();
            acc = wv.fma(FloatVector.fromArray(F, x, xOffset + i), acc);
        }
        acc = acc.add(acc.rearrange(F_FOLD_0));
        if (F_FOLD_COUNT > 1) {
            acc = acc.add(acc.rearrange(F_FOLD_1));
        }
        if (F_FOLD_COUNT > 2) {
            acc = acc.add(acc.rearrange(F_FOLD_2));
        }
        float sum = acc.lane(0) + acc.lane(1);
        for (; i < n; i++) {
            sum += Bf16.toFloat(w.get(SHORT, offset + 2L * i)) * x[xOffset + i];
        }
        return sum;
    }
}
