package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_2;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_COUNT;
import static dev.fathom.tensor.kernel.Lanes.I;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * FP8 E4M3 ("fn": no infinities), DeepSeek-V3's weight format: a sign, 4 exponent bits (bias 7)
 * and 3 mantissa bits, largest value 448. The values here are unscaled; the 128 × 128 block
 * scales of a checkpoint are applied by {@link dev.fathom.tensor.BlockScales}.
 *
 * <p>Widening is exact and needs no table: the byte, sign-extended to an int, keeps its sign in
 * bit 31, and its exponent and mantissa shifted up by 20 land in an f32's exponent and mantissa
 * fields with the exponent bias 127 in place of 7. Multiplying by 2¹²⁰ corrects the bias, for
 * the subnormals (exponent 0) as well, which become f32 subnormals first. The NaN codes 0x7F and
 * 0xFF read as ±480; they never occur in weights.
 */
final class F8E4M3Kernel extends WeightKernel {
    private static final float BIAS = 0x1p120f;
    /** The 127 non-negative finite codes' values, in code order (which is value order). */
    private static final float[] POSITIVE = new float[127];

    static {
        for (int code = 0; code < POSITIVE.length; code++) {
            POSITIVE[code] = toFloat((byte) code);
        }
    }

    @Override
    public GgmlType type() {
        return GgmlType.F8_E4M3;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.F32;
    }

    /** The value of one E4M3 code, by the same bit arithmetic as the vector path. */
    static float toFloat(byte code) {
        return Float.intBitsToFloat((code & 0x8000_0000) | (code & 0x7F) << 20) * BIAS;
    }

    /** The nearest E4M3 code to {@code x} (ties to the even code), saturating at ±448. */
    static byte fromFloat(float x) {
        if (Float.isNaN(x)) {
            return 0x7F;
        }
        float a = Math.min(Math.abs(x), POSITIVE[126]);
        int i = Arrays.binarySearch(POSITIVE, a);
        int code;
        if (i >= 0) {
            code = i;
        } else {
            int above = -i - 1; // POSITIVE[above - 1] < a < POSITIVE[above]
            float below = POSITIVE[above - 1];
            float gapBelow = a - below;
            float gapAbove = POSITIVE[above] - a;
            code = gapBelow < gapAbove || (gapBelow == gapAbove && (above - 1) % 2 == 0) ? above - 1 : above;
        }
        return (byte) (x < 0 || (x == 0 && 1 / x < 0) ? code | 0x80 : code);
    }

    private static FloatVector widen(MemorySegment w, long offset) {
        IntVector i = (IntVector) Lanes.bytesForFloats(w, offset).convertShape(VectorOperators.B2I, I, 0);
        return i.and(0x8000_0000).or(i.and(0x7F).lanewise(VectorOperators.LSHL, 20)).reinterpretAsFloats().mul(BIAS);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int i = 0;
        for (; i + F.length() <= n; i += F.length()) {
            widen(src, offset + i).intoArray(dst, dstOffset + i);
        }
        for (; i < n; i++) {
            dst[dstOffset + i] = toFloat(src.get(ValueLayout.JAVA_BYTE, offset + i));
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        for (int i = 0; i < n; i++) {
            dst.set(ValueLayout.JAVA_BYTE, offset + i, fromFloat(src[srcOffset + i]));
        }
    }

    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        FloatVector acc = FloatVector.zero(F);
        int step = F.length();
        int i = 0;
        for (; i + step <= n; i += step) {
            acc = widen(w, offset + i).fma(FloatVector.fromArray(F, x, xOffset + i), acc);
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
            sum += toFloat(w.get(ValueLayout.JAVA_BYTE, offset + i)) * x[xOffset + i];
        }
        return sum;
    }

    /** Block by block in vector accumulators, reduced once at the end. */
    @Override
    public float dotBlockScaled(MemorySegment w, long offset, float[] x, int xOffset, float[] scales, int first,
            int block, int n) {
        int step = F.length();
        if (block % step != 0) {
            return super.dotBlockScaled(w, offset, x, xOffset, scales, first, block, n);
        }
        FloatVector total = FloatVector.zero(F);
        float tail = 0;
        for (int c = 0, b = first; c < n; c += block, b++) {
            int end = Math.min(c + block, n);
            FloatVector acc = FloatVector.zero(F);
            int i = c;
            for (; i + step <= end; i += step) {
                acc = widen(w, offset + i).fma(FloatVector.fromArray(F, x, xOffset + i), acc);
            }
            total = acc.fma(FloatVector.broadcast(F, scales[b]), total);
            for (; i < end; i++) {
                tail += scales[b] * toFloat(w.get(ValueLayout.JAVA_BYTE, offset + i)) * x[xOffset + i];
            }
        }
        total = total.add(total.rearrange(F_FOLD_0));
        if (F_FOLD_COUNT > 1) {
            total = total.add(total.rearrange(F_FOLD_1));
        }
        if (F_FOLD_COUNT > 2) {
            total = total.add(total.rearrange(F_FOLD_2));
        }
        return total.lane(0) + total.lane(1) + tail;
    }
}
