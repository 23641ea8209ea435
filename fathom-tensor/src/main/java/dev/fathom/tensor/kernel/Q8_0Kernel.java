package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.B_FOR_S;
import static dev.fathom.tensor.kernel.Lanes.F16;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_2;
import static dev.fathom.tensor.kernel.Lanes.F_FOLD_COUNT;
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
    /** Whether a block takes two or more short vectors, so that products are added in pairs before widening. */
    private static final boolean TWO_PER_SUM = S.length() < BLOCK;
    /** The values one step of {@link #dot} takes: a block, or half a block on 128-bit machines. */
    private static final int STEP = TWO_PER_SUM ? 2 * S.length() : S.length();
    /** Steps per block: 1, or 2 on 128-bit machines. */
    private static final int STEPS = BLOCK / STEP;
    /** The blocks one round of {@link #dot} takes: its four steps. */
    private static final int ROUND_BLOCKS = 4 / STEPS;
    // Step k of a round is block BLOCK_k of the round (k / STEPS) from its value k % STEPS · STEP on;
    // VALUE_k is the step's first value counted from the round's first, QUANTS_k its first quant's
    // byte counted from the round's first block. Constants, so that the round's code has no loop.
    private static final int BLOCK_1 = 1 / STEPS, BLOCK_2 = 2 / STEPS, BLOCK_3 = 3 / STEPS;
    private static final int VALUE_1 = BLOCK_1 * BLOCK + 1 % STEPS * STEP, VALUE_2 = BLOCK_2 * BLOCK + 2 % STEPS * STEP,
            VALUE_3 = BLOCK_3 * BLOCK + 3 % STEPS * STEP;
    private static final int QUANTS_0 = 2, QUANTS_1 = BLOCK_1 * BYTES + 2 + 1 % STEPS * STEP,
            QUANTS_2 = BLOCK_2 * BYTES + 2 + 2 % STEPS * STEP, QUANTS_3 = BLOCK_3 * BYTES + 2 + 3 % STEPS * STEP;

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
    public boolean multipliesFewTokens() {
        return true;
    }

    /**
     * Each block's quants become floats once, scaled, and meet every token's activations by
     * fused multiply-adds: two accumulators per token (the block's first and second halves, or
     * alternate vectors of it on narrower machines), so that eight chains of additions overlap.
     * Missing tokens repeat the last one, whose result is written again.
     */
    @Override
    public void dotFew(MemorySegment w, long offset, float[] x, int xAt, int xStride, int tokens, float[] out,
            int outAt, int outStride, int n) {
        int x0 = xAt;
        int x1 = xAt + Math.min(1, tokens - 1) * xStride;
        int x2 = xAt + Math.min(2, tokens - 1) * xStride;
        int x3 = xAt + Math.min(3, tokens - 1) * xStride;
        FloatVector a0 = FloatVector.zero(F), b0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F), b2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        int step = F.length();
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Float.float16ToFloat(w.get(F16, block));
            for (int c = 0; c < BLOCK; c += 2 * step) {
                int at = b * BLOCK + c;
                FloatVector w0 = ((FloatVector) Lanes.bytesForFloats(w, block + 2 + c)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(d);
                FloatVector w1 = ((FloatVector) Lanes.bytesForFloats(w, block + 2 + c + step)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(d);
                a0 = w0.fma(FloatVector.fromArray(F, x, x0 + at), a0);
                b0 = w1.fma(FloatVector.fromArray(F, x, x0 + at + step), b0);
                a1 = w0.fma(FloatVector.fromArray(F, x, x1 + at), a1);
                b1 = w1.fma(FloatVector.fromArray(F, x, x1 + at + step), b1);
                a2 = w0.fma(FloatVector.fromArray(F, x, x2 + at), a2);
                b2 = w1.fma(FloatVector.fromArray(F, x, x2 + at + step), b2);
                a3 = w0.fma(FloatVector.fromArray(F, x, x3 + at), a3);
                b3 = w1.fma(FloatVector.fromArray(F, x, x3 + at + step), b3);
            }
        }
        a0 = a0.add(b0);
        a1 = a1.add(b1);
        a2 = a2.add(b2);
        a3 = a3.add(b3);
        a0 = a0.add(a0.rearrange(F_FOLD_0));
        a1 = a1.add(a1.rearrange(F_FOLD_0));
        a2 = a2.add(a2.rearrange(F_FOLD_0));
        a3 = a3.add(a3.rearrange(F_FOLD_0));
        if (F_FOLD_COUNT > 1) {
            a0 = a0.add(a0.rearrange(F_FOLD_1));
            a1 = a1.add(a1.rearrange(F_FOLD_1));
            a2 = a2.add(a2.rearrange(F_FOLD_1));
            a3 = a3.add(a3.rearrange(F_FOLD_1));
        }
        if (F_FOLD_COUNT > 2) {
            a0 = a0.add(a0.rearrange(F_FOLD_2));
            a1 = a1.add(a1.rearrange(F_FOLD_2));
            a2 = a2.add(a2.rearrange(F_FOLD_2));
            a3 = a3.add(a3.rearrange(F_FOLD_2));
        }
        out[outAt] = a0.lane(0) + a0.lane(1);
        out[outAt + Math.min(1, tokens - 1) * outStride] = a1.lane(0) + a1.lane(1);
        out[outAt + Math.min(2, tokens - 1) * outStride] = a2.lane(0) + a2.lane(1);
        out[outAt + Math.min(3, tokens - 1) * outStride] = a3.lane(0) + a3.lane(1);
    }

    /**
     * {@link #dotFew} for two rows at once: each block's quants of both rows become floats once,
     * and each loaded activation vector meets both, one accumulator per row and token (eight
     * chains of additions). That halves the activation loads per weight, which set the pace
     * once four tokens' activations outgrow the first-level cache.
     */
    @Override
    public void dotFewRows(MemorySegment w, long offset, long nextRow, float[] x, int xAt, int xStride, int tokens,
            float[] out, int outAt, int nextOut, int outStride, int n) {
        long offset1 = offset + nextRow;
        int x0 = xAt;
        int x1 = xAt + Math.min(1, tokens - 1) * xStride;
        int x2 = xAt + Math.min(2, tokens - 1) * xStride;
        int x3 = xAt + Math.min(3, tokens - 1) * xStride;
        FloatVector a0 = FloatVector.zero(F), b0 = FloatVector.zero(F);
        FloatVector a1 = FloatVector.zero(F), b1 = FloatVector.zero(F);
        FloatVector a2 = FloatVector.zero(F), b2 = FloatVector.zero(F);
        FloatVector a3 = FloatVector.zero(F), b3 = FloatVector.zero(F);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            long block1 = offset1 + (long) b * BYTES;
            float d = Float.float16ToFloat(w.get(F16, block));
            float d1 = Float.float16ToFloat(w.get(F16, block1));
            for (int c = 0; c < BLOCK; c += F.length()) {
                int at = b * BLOCK + c;
                FloatVector u = ((FloatVector) Lanes.bytesForFloats(w, block + 2 + c)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(d);
                FloatVector v = ((FloatVector) Lanes.bytesForFloats(w, block1 + 2 + c)
                        .convertShape(VectorOperators.B2F, F, 0)).mul(d1);
                FloatVector y = FloatVector.fromArray(F, x, x0 + at);
                a0 = u.fma(y, a0);
                b0 = v.fma(y, b0);
                y = FloatVector.fromArray(F, x, x1 + at);
                a1 = u.fma(y, a1);
                b1 = v.fma(y, b1);
                y = FloatVector.fromArray(F, x, x2 + at);
                a2 = u.fma(y, a2);
                b2 = v.fma(y, b2);
                y = FloatVector.fromArray(F, x, x3 + at);
                a3 = u.fma(y, a3);
                b3 = v.fma(y, b3);
            }
        }
        int out1 = outAt + Math.min(1, tokens - 1) * outStride;
        int out2 = outAt + Math.min(2, tokens - 1) * outStride;
        int out3 = outAt + Math.min(3, tokens - 1) * outStride;
        a0 = a0.add(a0.rearrange(F_FOLD_0));
        a1 = a1.add(a1.rearrange(F_FOLD_0));
        a2 = a2.add(a2.rearrange(F_FOLD_0));
        a3 = a3.add(a3.rearrange(F_FOLD_0));
        b0 = b0.add(b0.rearrange(F_FOLD_0));
        b1 = b1.add(b1.rearrange(F_FOLD_0));
        b2 = b2.add(b2.rearrange(F_FOLD_0));
        b3 = b3.add(b3.rearrange(F_FOLD_0));
        if (F_FOLD_COUNT > 1) {
            a0 = a0.add(a0.rearrange(F_FOLD_1));
            a1 = a1.add(a1.rearrange(F_FOLD_1));
            a2 = a2.add(a2.rearrange(F_FOLD_1));
            a3 = a3.add(a3.rearrange(F_FOLD_1));
            b0 = b0.add(b0.rearrange(F_FOLD_1));
            b1 = b1.add(b1.rearrange(F_FOLD_1));
            b2 = b2.add(b2.rearrange(F_FOLD_1));
            b3 = b3.add(b3.rearrange(F_FOLD_1));
        }
        if (F_FOLD_COUNT > 2) {
            a0 = a0.add(a0.rearrange(F_FOLD_2));
            a1 = a1.add(a1.rearrange(F_FOLD_2));
            a2 = a2.add(a2.rearrange(F_FOLD_2));
            a3 = a3.add(a3.rearrange(F_FOLD_2));
            b0 = b0.add(b0.rearrange(F_FOLD_2));
            b1 = b1.add(b1.rearrange(F_FOLD_2));
            b2 = b2.add(b2.rearrange(F_FOLD_2));
            b3 = b3.add(b3.rearrange(F_FOLD_2));
        }
        out[outAt] = a0.lane(0) + a0.lane(1);
        out[out1] = a1.lane(0) + a1.lane(1);
        out[out2] = a2.lane(0) + a2.lane(1);
        out[out3] = a3.lane(0) + a3.lane(1);
        out[outAt + nextOut] = b0.lane(0) + b0.lane(1);
        out[out1 + nextOut] = b1.lane(0) + b1.lane(1);
        out[out2 + nextOut] = b2.lane(0) + b2.lane(1);
        out[out3 + nextOut] = b3.lane(0) + b3.lane(1);
    }

    /**
     * Per step of {@link #STEP} values (a block on 256- and 512-bit machines, half a block on
     * 128-bit ones), products of int8 weights and activations in short lanes, two vectors of them
     * added while still shorts (2 · 127 · 127 fits), then their neighbouring lanes added into ints;
     * the step's sum, scaled, joins a float accumulator. Four steps a round, written out, with two
     * accumulators: a loop over the four, or a helper method, would cost the JIT's inlining and
     * unrolling (see {@link Lanes}); two steps a round ran 15% slower.
     *
     * <p>No loop inside the round: when a block's steps were an inner loop (one trip on wide
     * machines), C2 boxed that loop's vectors in some processes and not in others, depending on
     * the profile it compiled from, and a process that drew the boxed compile decoded at 0.7
     * tokens/s instead of 16-21 (3 of 4 processes when compilation ran slower, under
     * {@code -XX:+PrintInlining}; about 1 in 6 otherwise). The round reads its four scales before
     * any vector code: C2 stops inlining plain (not force-inlined) methods once a graph passes a
     * node count, and a scale read that came after the vector code sat right at that count, so
     * that in some processes its {@code Unsafe} call was left a call, every vector around it
     * spilled, and decoding ran at half speed.
     */
    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        short[] a = qx.q;
        float[] ad = qx.d;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int blocks = n / BLOCK;
        int b = 0;
        for (; b + ROUND_BLOCKS <= blocks; b += ROUND_BLOCKS) {
            long block = offset + (long) b * BYTES;
            int at = b * BLOCK;
            float scale0 = Float.float16ToFloat(w.get(F16, block)) * ad[b];
            float scale1 = Float.float16ToFloat(w.get(F16, block + BLOCK_1 * BYTES)) * ad[b + BLOCK_1];
            float scale2 = Float.float16ToFloat(w.get(F16, block + BLOCK_2 * BYTES)) * ad[b + BLOCK_2];
            float scale3 = Float.float16ToFloat(w.get(F16, block + BLOCK_3 * BYTES)) * ad[b + BLOCK_3];
            long quants0 = block + QUANTS_0;
            long quants1 = block + QUANTS_1;
            long quants2 = block + QUANTS_2;
            long quants3 = block + QUANTS_3;
            int at0 = at;
            int at1 = at + VALUE_1;
            int at2 = at + VALUE_2;
            int at3 = at + VALUE_3;
            ShortVector p0 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants0, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at0));
            if (TWO_PER_SUM) {
                p0 = p0.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants0 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at0 + S.length())));
            }
            IntVector pairs0 = p0.reinterpretAsInts();
            IntVector sum0 = pairs0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairs0.lanewise(VectorOperators.ASHR, 16));
            ShortVector p1 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants1, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at1));
            if (TWO_PER_SUM) {
                p1 = p1.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants1 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at1 + S.length())));
            }
            IntVector pairs1 = p1.reinterpretAsInts();
            IntVector sum1 = pairs1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairs1.lanewise(VectorOperators.ASHR, 16));
            ShortVector p2 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants2, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at2));
            if (TWO_PER_SUM) {
                p2 = p2.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants2 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at2 + S.length())));
            }
            IntVector pairs2 = p2.reinterpretAsInts();
            IntVector sum2 = pairs2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairs2.lanewise(VectorOperators.ASHR, 16));
            ShortVector p3 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants3, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at3));
            if (TWO_PER_SUM) {
                p3 = p3.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants3 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at3 + S.length())));
            }
            IntVector pairs3 = p3.reinterpretAsInts();
            IntVector sum3 = pairs3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairs3.lanewise(VectorOperators.ASHR, 16));
            acc0 = ((FloatVector) sum0.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scale0), acc0);
            acc1 = ((FloatVector) sum1.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scale1), acc1);
            acc0 = ((FloatVector) sum2.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scale2), acc0);
            acc1 = ((FloatVector) sum3.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scale3), acc1);
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
        for (; b < blocks; b++) {
            sum += blockDot(w, offset + (long) b * BYTES, a, b, ad[b]);
        }
        return sum;
    }

    @Override
    boolean takesRowPairs() {
        return true;
    }

    /**
     * {@link #dot} for two rows at once ({@link WeightKernel#dotRowPair}): each activation vector is
     * loaded once for both rows. Each row's sums and accumulators are those of {@link #dot}, in the
     * same order, so each result is bit for bit what {@link #dot} gives that row alone.
     */
    @Override
    void dotRowPair(MemorySegment w, long rowA, long rowB, QuantizedVector qx, int n, float[] out, int outAt, int nextOut) {
        short[] a = qx.q;
        float[] ad = qx.d;
        FloatVector accA0 = FloatVector.zero(F);
        FloatVector accA1 = FloatVector.zero(F);
        FloatVector accB0 = FloatVector.zero(F);
        FloatVector accB1 = FloatVector.zero(F);
        int blocks = n / BLOCK;
        int b = 0;
        for (; b + ROUND_BLOCKS <= blocks; b += ROUND_BLOCKS) {
            long blockA = rowA + (long) b * BYTES;
            long blockB = rowB + (long) b * BYTES;
            int at = b * BLOCK;
            float scaleA0 = Float.float16ToFloat(w.get(F16, blockA)) * ad[b];
            float scaleA1 = Float.float16ToFloat(w.get(F16, blockA + BLOCK_1 * BYTES)) * ad[b + BLOCK_1];
            float scaleA2 = Float.float16ToFloat(w.get(F16, blockA + BLOCK_2 * BYTES)) * ad[b + BLOCK_2];
            float scaleA3 = Float.float16ToFloat(w.get(F16, blockA + BLOCK_3 * BYTES)) * ad[b + BLOCK_3];
            float scaleB0 = Float.float16ToFloat(w.get(F16, blockB)) * ad[b];
            float scaleB1 = Float.float16ToFloat(w.get(F16, blockB + BLOCK_1 * BYTES)) * ad[b + BLOCK_1];
            float scaleB2 = Float.float16ToFloat(w.get(F16, blockB + BLOCK_2 * BYTES)) * ad[b + BLOCK_2];
            float scaleB3 = Float.float16ToFloat(w.get(F16, blockB + BLOCK_3 * BYTES)) * ad[b + BLOCK_3];
            ShortVector x0 = ShortVector.fromArray(S, a, at);
            ShortVector x1 = ShortVector.fromArray(S, a, at + VALUE_1);
            ShortVector x2 = ShortVector.fromArray(S, a, at + VALUE_2);
            ShortVector x3 = ShortVector.fromArray(S, a, at + VALUE_3);
            ShortVector y0 = TWO_PER_SUM ? ShortVector.fromArray(S, a, at + S.length()) : x0;
            ShortVector y1 = TWO_PER_SUM ? ShortVector.fromArray(S, a, at + VALUE_1 + S.length()) : x1;
            ShortVector y2 = TWO_PER_SUM ? ShortVector.fromArray(S, a, at + VALUE_2 + S.length()) : x2;
            ShortVector y3 = TWO_PER_SUM ? ShortVector.fromArray(S, a, at + VALUE_3 + S.length()) : x3;
            ShortVector pA0 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_0, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x0);
            if (TWO_PER_SUM) {
                pA0 = pA0.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_0 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y0));
            }
            IntVector pairsA0 = pA0.reinterpretAsInts();
            IntVector sumA0 = pairsA0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsA0.lanewise(VectorOperators.ASHR, 16));
            ShortVector pA1 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_1, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x1);
            if (TWO_PER_SUM) {
                pA1 = pA1.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_1 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y1));
            }
            IntVector pairsA1 = pA1.reinterpretAsInts();
            IntVector sumA1 = pairsA1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsA1.lanewise(VectorOperators.ASHR, 16));
            ShortVector pA2 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_2, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x2);
            if (TWO_PER_SUM) {
                pA2 = pA2.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_2 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y2));
            }
            IntVector pairsA2 = pA2.reinterpretAsInts();
            IntVector sumA2 = pairsA2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsA2.lanewise(VectorOperators.ASHR, 16));
            ShortVector pA3 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_3, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x3);
            if (TWO_PER_SUM) {
                pA3 = pA3.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockA + QUANTS_3 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y3));
            }
            IntVector pairsA3 = pA3.reinterpretAsInts();
            IntVector sumA3 = pairsA3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsA3.lanewise(VectorOperators.ASHR, 16));
            ShortVector pB0 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_0, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x0);
            if (TWO_PER_SUM) {
                pB0 = pB0.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_0 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y0));
            }
            IntVector pairsB0 = pB0.reinterpretAsInts();
            IntVector sumB0 = pairsB0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsB0.lanewise(VectorOperators.ASHR, 16));
            ShortVector pB1 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_1, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x1);
            if (TWO_PER_SUM) {
                pB1 = pB1.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_1 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y1));
            }
            IntVector pairsB1 = pB1.reinterpretAsInts();
            IntVector sumB1 = pairsB1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsB1.lanewise(VectorOperators.ASHR, 16));
            ShortVector pB2 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_2, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x2);
            if (TWO_PER_SUM) {
                pB2 = pB2.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_2 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y2));
            }
            IntVector pairsB2 = pB2.reinterpretAsInts();
            IntVector sumB2 = pairsB2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsB2.lanewise(VectorOperators.ASHR, 16));
            ShortVector pB3 = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_3, LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(x3);
            if (TWO_PER_SUM) {
                pB3 = pB3.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, blockB + QUANTS_3 + S.length(), LE)
                        .convertShape(VectorOperators.B2S, S, 0)).mul(y3));
            }
            IntVector pairsB3 = pB3.reinterpretAsInts();
            IntVector sumB3 = pairsB3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                    .add(pairsB3.lanewise(VectorOperators.ASHR, 16));
            accA0 = ((FloatVector) sumA0.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleA0), accA0);
            accA1 = ((FloatVector) sumA1.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleA1), accA1);
            accA0 = ((FloatVector) sumA2.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleA2), accA0);
            accA1 = ((FloatVector) sumA3.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleA3), accA1);
            accB0 = ((FloatVector) sumB0.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleB0), accB0);
            accB1 = ((FloatVector) sumB1.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleB1), accB1);
            accB0 = ((FloatVector) sumB2.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleB2), accB0);
            accB1 = ((FloatVector) sumB3.convertShape(VectorOperators.I2F, F, 0))
                    .fma(FloatVector.broadcast(F, scaleB3), accB1);
        }
        accA0 = accA0.add(accA1);
        accB0 = accB0.add(accB1);
        accA0 = accA0.add(accA0.rearrange(F_FOLD_0));
        accB0 = accB0.add(accB0.rearrange(F_FOLD_0));
        if (F_FOLD_COUNT > 1) {
            accA0 = accA0.add(accA0.rearrange(F_FOLD_1));
            accB0 = accB0.add(accB0.rearrange(F_FOLD_1));
        }
        if (F_FOLD_COUNT > 2) {
            accA0 = accA0.add(accA0.rearrange(F_FOLD_2));
            accB0 = accB0.add(accB0.rearrange(F_FOLD_2));
        }
        float sumA = accA0.lane(0) + accA0.lane(1);
        float sumB = accB0.lane(0) + accB0.lane(1);
        for (; b < blocks; b++) {
            sumA += blockDot(w, rowA + (long) b * BYTES, a, b, ad[b]);
            sumB += blockDot(w, rowB + (long) b * BYTES, a, b, ad[b]);
        }
        out[outAt] = sumA;
        out[outAt + nextOut] = sumB;
    }

    /** Block {@code b}'s product, scaled: the tail of {@link #dot} and {@link #dotRowPair}, a step at a time. */
    private static float blockDot(MemorySegment w, long block, short[] a, int b, float activationScale) {
        int blockSum = 0;
        for (int c = 0; c < BLOCK; c += STEP) {
            blockSum += stepDot(w, block + 2 + c, a, b * BLOCK + c);
        }
        return blockSum * Float.float16ToFloat(w.get(F16, block)) * activationScale;
    }

    /**
     * One step's integer product, for rows whose length is not a multiple of a round. It is a
     * method of its own, taking and giving scalars, so that {@link #dot} stays the same graph for
     * every row length: when C2 compiled this tail into {@code dot}, it at times boxed every vector
     * of the round's loop (decoding 1.7 times slower in some processes and not in others).
     */
    private static int stepDot(MemorySegment w, long quants, short[] a, int at) {
        ShortVector p = ((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants, LE)
                .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at));
        if (TWO_PER_SUM) {
            p = p.add(((ShortVector) ByteVector.fromMemorySegment(B_FOR_S, w, quants + S.length(), LE)
                    .convertShape(VectorOperators.B2S, S, 0)).mul(ShortVector.fromArray(S, a, at + S.length())));
        }
        IntVector pairs = p.reinterpretAsInts();
        return pairs.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 16)
                .add(pairs.lanewise(VectorOperators.ASHR, 16)).reduceLanes(VectorOperators.ADD);
    }
}
