package dev.fathom.tensor.kernel;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** IEEE half precision. */
final class F16Kernel extends WeightKernel {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED;

    @Override
    public GgmlType type() {
        return GgmlType.F16;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.F16;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        SegmentVectors.loadHalves(src, offset, dst, dstOffset, n);
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(SHORT, offset + 2L * i, Float.floatToFloat16(src[srcOffset + i]));
        }
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        return SegmentVectors.dotHalves(w, offset, x, xOffset, n);
    }
}
