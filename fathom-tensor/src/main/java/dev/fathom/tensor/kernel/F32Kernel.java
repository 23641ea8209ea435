package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_2;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_COUNT;
import static dev.fathom.tensor.kernel.Lanes.LE;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/** Plain 32-bit floats. */
final class F32Kernel extends WeightKernel {
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    @Override
    public GgmlType type() {
        return GgmlType.F32;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.F32;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        MemorySegment.copy(src, FLOAT, offset, dst, dstOffset, n);
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        MemorySegment.copy(src, srcOffset, dst, FLOAT, offset, n);
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int step = F.length();
        int i = 0;
        for (; i + 2 * step <= n; i += 2 * step) {
            acc0 = FloatVector.fromMemorySegment(F, w, offset + 4L * i, LE).fma(FloatVector.fromArray(F, x, xOffset + i), acc0);
            acc1 = FloatVector.fromMemorySegment(F, w, offset + 4L * (i + step), LE)
                    .fma(FloatVector.fromArray(F, x, xOffset + i + step), acc1);
        }
        acc0 = acc0.add(acc1);
        acc0 = acc0.add(acc0.rearrange(F_FOLD_0));
        if (F_FOLD_COUNT > 1) {
            acc0 = acc0.add(acc0.rearrange(F_FOLD_1));
        }
        if (F_FOLD_COUNT > 2) {
            acc0 = acc0.add(acc0.rearrange(F_FOLD_2));
        }
        float sum = acc0.lane(0) + acc0.lane(1);
        for (; i < n; i++) {
            sum += w.get(FLOAT, offset + 4L * i) * x[xOffset + i];
        }
        return sum;
    }
}
