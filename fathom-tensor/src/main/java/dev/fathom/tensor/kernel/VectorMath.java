package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_2;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_COUNT;
import static dev.fathom.tensor.kernel.Lanes.I;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector steps of a transformer layer outside the matrix products: exp, SiLU (SwiGLU),
 * softmax, and the dot products and scaled sums of attention.
 *
 * <p>exp is a degree-5 polynomial on the range-reduced argument with a two-constant Cody–Waite
 * reduction (Arm's optimized-routines design, at most 1.5 ulp of error), evaluated with fused
 * multiply-adds in the same order as llama.cpp's AVX-512 build. Its results are therefore
 * bit-identical to the reference's there, which matters more than one would think: activations
 * are rounded to int8 right after SwiGLU, and a last-bit difference can tip a rounding.
 */
public final class VectorMath {
    private static final float SHIFT = 0x1.8p23f;
    private static final float LOG2_E = 0x1.715476p+0f;
    private static final float LN2_HI = 0x1.62e4p-1f;
    private static final float LN2_LO = 0x1.7f7d1cp-20f;
    private static final float C0 = 0x1.ffffecp-1f;
    private static final float C1 = 0x1.fffdb6p-2f;
    private static final float C2 = 0x1.555e66p-3f;
    private static final float C3 = 0x1.573e2ep-5f;
    private static final float C4 = 0x1.0e4020p-7f;

    private VectorMath() {
    }

    /** e^x per lane. Results above e^88.7 are infinite, below e^-103.9 zero. */
    public static FloatVector exp(FloatVector x) {
        FloatVector z = x.fma(LOG2_E, SHIFT);
        FloatVector n = z.sub(SHIFT); // x·log2(e) rounded to an integer
        FloatVector minusN = n.neg();
        FloatVector b = minusN.fma(FloatVector.broadcast(F, LN2_LO), minusN.fma(FloatVector.broadcast(F, LN2_HI), x)); // x − n·ln 2, in two parts
        FloatVector u = b.mul(b);
        FloatVector j = b.fma(C4, C3).fma(u, b.fma(C2, C1)).fma(u, b.fma(C0, 1f)); // e^b, Horner-Estrin
        // j · 2^n, as a multiply by the power of two built from its exponent bits.
        IntVector exponent = (IntVector) n.convert(VectorOperators.F2I, 0);
        FloatVector scale = exponent.max(-126).min(127).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector result = j.mul(scale);
        VectorMask<Float> tiny = n.compare(VectorOperators.LT, -126f);
        if (tiny.anyTrue()) {
            FloatVector rest = exponent.add(126).max(-126).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
            result = result.blend(result.mul(rest), tiny);
        }
        VectorMask<Float> huge = n.compare(VectorOperators.GT, 127f);
        if (huge.anyTrue()) {
            result = result.blend(Float.POSITIVE_INFINITY, huge);
        }
        VectorMask<Float> far = n.abs().compare(VectorOperators.GT, 192f);
        if (far.anyTrue()) {
            FloatVector limit = FloatVector.zero(F).blend(Float.POSITIVE_INFINITY, n.compare(VectorOperators.GT, 0f));
            result = result.blend(limit, far);
        }
        return result;
    }

    /** e^x for one value, by the same polynomial as {@link #exp(FloatVector)}. */
    public static float exp(float x) {
        float n = Math.fma(x, LOG2_E, SHIFT) - SHIFT;
        if (Math.abs(n) > 192) {
            return n > 0 ? Float.POSITIVE_INFINITY : 0f;
        }
        float b = Math.fma(-n, LN2_LO, Math.fma(-n, LN2_HI, x));
        float u = b * b;
        float j = Math.fma(Math.fma(Math.fma(b, C4, C3), u, Math.fma(b, C2, C1)), u, Math.fma(b, C0, 1f));
        return Math.scalb(j, (int) n);
    }

    /** out[i] = silu(gate[i]) · up[i] = gate[i] / (1 + e^−gate[i]) · up[i], for i < n. */
    public static void swiglu(float[] gate, float[] up, float[] out, int n) {
        int i = 0;
        for (; i + F.length() <= n; i += F.length()) {
            FloatVector g = FloatVector.fromArray(F, gate, i);
            g.div(exp(g.neg()).add(1f)).mul(FloatVector.fromArray(F, up, i)).intoArray(out, i);
        }
        for (; i < n; i++) {
            out[i] = gate[i] / (1f + exp(-gate[i])) * up[i];
        }
    }

    /** Softmax of {@code x[from, from + n)} in place: exponentials of x − max, divided by their sum. */
    /** log Σ exp(x[i]) over {@code x[from, from + n)}, in double, the largest term factored out. */
    public static double logSumExp(float[] x, int from, int n) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = from; i < from + n; i++) {
            max = Math.max(max, x[i]);
        }
        double sum = 0;
        for (int i = from; i < from + n; i++) {
            sum += Math.exp(x[i] - max);
        }
        return max + Math.log(sum);
    }

    public static void softmax(float[] x, int from, int n) {
        int end = from + n;
        FloatVector largest = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = from;
        for (; i + F.length() <= end; i += F.length()) {
            largest = largest.max(FloatVector.fromArray(F, x, i));
        }
        float max = largest.reduceLanes(VectorOperators.MAX);
        for (; i < end; i++) {
            max = Math.max(max, x[i]);
        }
        double sum = 0;
        i = from;
        for (; i + F.length() <= end; i += F.length()) {
            FloatVector e = exp(FloatVector.fromArray(F, x, i).sub(max));
            e.intoArray(x, i);
            e = e.add(e.rearrange(F_FOLD_0));
            if (F_FOLD_COUNT > 1) {
                e = e.add(e.rearrange(F_FOLD_1));
            }
            if (F_FOLD_COUNT > 2) {
                e = e.add(e.rearrange(F_FOLD_2));
            }
            sum += e.lane(0) + e.lane(1);
        }
        for (; i < end; i++) {
            x[i] = exp(x[i] - max);
            sum += x[i];
        }
        float inverse = (float) (1 / sum);
        i = from;
        for (; i + F.length() <= end; i += F.length()) {
            FloatVector.fromArray(F, x, i).mul(inverse).intoArray(x, i);
        }
        for (; i < end; i++) {
            x[i] *= inverse;
        }
    }

    /**
     * The shuffles that fold a vector of {@code species} in halves down to two lanes: lane i
     * takes lane i ^ n/2, then i ^ n/4, ..., i ^ 2 (n lanes). Adding each fold to the vector in
     * turn and then lanes 0 and 1 sums the lanes in one fixed order, the same in the interpreter
     * and in compiled code. {@code reduceLanes(ADD)} leaves its order open, and HotSpot's C2 adds
     * in another one than the interpreter: a dot product would round differently before and after
     * the JIT compiled it, and a token's logits would depend on what ran before it (whether it
     * came alone or in a batch, early in the process or later). Callers write the folds out one by
     * one (see {@code Lanes.F_FOLD_0}) rather than calling a helper with the vector or looping
     * over this array: C2 stops inlining in large kernels, a vector passed to a call that is not
     * inlined is boxed, and so, in some compiles, is one carried around a loop it left rolled.
     */
    @SuppressWarnings("unchecked")
    public static VectorShuffle<Float>[] folds(VectorSpecies<Float> species) {
        int count = Integer.numberOfTrailingZeros(species.length()) - 1;
        VectorShuffle<Float>[] folds = new VectorShuffle[Math.max(0, count)];
        for (int i = 0; i < folds.length; i++) {
            int distance = species.length() >> (i + 1);
            folds[i] = VectorShuffle.fromOp(species, lane -> lane ^ distance);
        }
        return folds;
    }

    /** The dot product of {@code a[ao, ao + n)} and {@code b[bo, bo + n)}. */
    public static float dot(float[] a, int ao, float[] b, int bo, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (; i + F.length() <= n; i += F.length()) {
            acc = FloatVector.fromArray(F, a, ao + i).fma(FloatVector.fromArray(F, b, bo + i), acc);
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
            sum += a[ao + i] * b[bo + i];
        }
        return sum;
    }

    /** {@code y[yo + i] += a · x[xo + i]} for i < n. */
    public static void addScaled(float a, float[] x, int xo, float[] y, int yo, int n) {
        FloatVector scale = FloatVector.broadcast(F, a);
        int i = 0;
        for (; i + F.length() <= n; i += F.length()) {
            FloatVector.fromArray(F, x, xo + i).fma(scale, FloatVector.fromArray(F, y, yo + i)).intoArray(y, yo + i);
        }
        for (; i < n; i++) {
            y[yo + i] += a * x[xo + i];
        }
    }

    static {
        if (I.length() != F.length()) {
            throw new ExceptionInInitializerError("int and float vectors must have the same lane count");
        }
    }
}
