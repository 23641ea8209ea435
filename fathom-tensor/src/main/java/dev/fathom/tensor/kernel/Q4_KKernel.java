package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.B16;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I2;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.P4;
import static dev.fathom.tensor.kernel.Lanes.P;
import static dev.fathom.tensor.kernel.Lanes.PF;
import static dev.fathom.tensor.kernel.Lanes.PF_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.PF_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.PF_FOLD_COUNT;
import static dev.fathom.tensor.kernel.Lanes.SUB_BLOCKS_0_2;
import static dev.fathom.tensor.kernel.Lanes.SUB_BLOCKS_1_3;
import static dev.fathom.tensor.kernel.Lanes.SUB_BLOCKS_4_6;
import static dev.fathom.tensor.kernel.Lanes.SUB_BLOCKS_5_7;
import static dev.fathom.tensor.kernel.Lanes.W;
import static dev.fathom.tensor.kernel.Lanes.WF;
import static dev.fathom.tensor.kernel.Lanes.WF_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.WF_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.WF_FOLD_2;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_K: super-blocks of 256 values in 8 sub-blocks of 32. An f16 d and dmin, 12 bytes of packed
 * 6-bit sub-block scales and minimums ({@link KScales}), then 128 bytes of nibbles: each run of
 * 32 bytes holds one pair of sub-blocks, the low nibbles the first, the high nibbles the second.
 * value = d · scale · q − dmin · min.
 */
final class Q4_KKernel extends WeightKernel {
    static final int BLOCK = 256;
    static final int BYTES = 144;

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(src, block);
            float dmin = Lanes.f16(src, block + 2);
            long low = src.get(ValueLayout.JAVA_LONG_UNALIGNED, block + 4);
            int high = src.get(ValueLayout.JAVA_INT_UNALIGNED, block + 12);
            long scales = KScales.scales(low, high);
            long mins = KScales.mins(low, high);
            int out = dstOffset + b * BLOCK;
            for (int j = 0; j < 4; j++) {
                float d0 = d * (int) (scales >>> (16 * j) & 0xFF);
                float m0 = -dmin * (int) (mins >>> (16 * j) & 0xFF);
                float d1 = d * (int) (scales >>> (16 * j + 8) & 0xFF);
                float m1 = -dmin * (int) (mins >>> (16 * j + 8) & 0xFF);
                for (int c = 0; c < 32; c += F.length()) {
                    ByteVector raw = Lanes.bytesForFloats(src, block + 16 + 32 * j + c);
                    ((FloatVector) raw.and((byte) 0xF).convertShape(VectorOperators.B2F, F, 0)).fma(d0, m0)
                            .intoArray(dst, out + 64 * j + c);
                    ((FloatVector) raw.lanewise(VectorOperators.LSHR, 4).convertShape(VectorOperators.B2F, F, 0)).fma(d1, m1)
                            .intoArray(dst, out + 64 * j + 32 + c);
                }
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int[] q = new int[BLOCK];
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            KQuantizer.scaleAndMin(src, srcOffset + b * BLOCK, 15, q, dst, block);
            for (int j = 0; j < 4; j++) {
                for (int l = 0; l < 32; l++) {
                    dst.set(ValueLayout.JAVA_BYTE, block + 16 + 32 * j + l,
                            (byte) (q[64 * j + l] | q[64 * j + 32 + l] << 4));
                }
            }
        }
    }

    /**
     * Paired products (see {@link Lanes}): each 32-byte run j of nibbles gives four vectors of
     * quant pairs (the even and odd bytes' low nibbles, sub-block 2j, and their high nibbles,
     * sub-block 2j+1); per lane at most four products of 15 · 127 add up, well inside the halves.
     * The minimums' term, Σ min · Σ y per sub-block, is taken eight sub-blocks at a time.
     */
    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        if (Lanes.WIDE) {
            return dotWide(w, offset, qx, n);
        }
        int[] pairs = qx.pairs;
        int[] sums32 = qx.sums32;
        FloatVector acc = FloatVector.zero(PF);
        FloatVector minAcc = FloatVector.zero(PF);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            // The header in one vector load: d and dmin, then the 12 bytes of scales and minimums.
            IntVector head = IntVector.fromMemorySegment(P4, w, block, LE);
            int dAndMin = head.lane(0);
            float d = Float.float16ToFloat((short) dAndMin) * qx.d[b];
            float dmin = Float.float16ToFloat((short) (dAndMin >>> 16)) * qx.d[b];
            long low = head.lane(1) & 0xFFFFFFFFL | (long) head.lane(2) << 32;
            int high = head.lane(3);
            long codes = KScales.scales(low, high); // the eight 6-bit scales, one byte each
            long minCodes = KScales.mins(low, high);
            ByteVector minBytes = IntVector.zero(I2).withLane(0, (int) minCodes).withLane(1, (int) (minCodes >>> 32))
                    .reinterpretAsBytes();
            IntVector mins = IntVector.zero(P);
            for (int part = 0; part < 8 / P.length(); part++) {
                mins = mins.add(((IntVector) minBytes.convertShape(VectorOperators.B2I, P, part))
                        .mul(IntVector.fromArray(P, sums32, b * 16 + 8 + part * P.length())));
            }
            minAcc = ((FloatVector) mins.convertShape(VectorOperators.I2F, PF, 0)).fma(FloatVector.broadcast(PF, dmin), minAcc);
            int pb = b * 128;
            IntVector total = IntVector.zero(P);
            // The four pairs of sub-blocks written out: as a loop, C2 would keep it rolled, with the
            // scales read back from the stack on every round (15% slower).
            {
                IntVector low4 = IntVector.zero(P);
                IntVector high4 = IntVector.zero(P);
                for (int c = 0; c < 32; c += 4 * P.length()) {
                    IntVector v = IntVector.fromMemorySegment(P, w, block + 16 + c, LE);
                    int at = pb + c / 4;
                    low4 = low4.add(v.and(0x000F000F).mul(IntVector.fromArray(P, pairs, at)))
                            .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 16)));
                    high4 = high4.add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 32)))
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 48)));
                }
                // The pairs' sums, scaled: at most 4 · 2 · 15 · 127 · 63 per lane and sub-block.
                total = total.add(low4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes & 0xFF)))
                        .add(high4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 8 & 0xFF)));
            }
            {
                IntVector low4 = IntVector.zero(P);
                IntVector high4 = IntVector.zero(P);
                for (int c = 0; c < 32; c += 4 * P.length()) {
                    IntVector v = IntVector.fromMemorySegment(P, w, block + 48 + c, LE);
                    int at = pb + 8 + c / 4;
                    low4 = low4.add(v.and(0x000F000F).mul(IntVector.fromArray(P, pairs, at)))
                            .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 16)));
                    high4 = high4.add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 32)))
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 48)));
                }
                total = total.add(low4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 16 & 0xFF)))
                        .add(high4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 24 & 0xFF)));
            }
            {
                IntVector low4 = IntVector.zero(P);
                IntVector high4 = IntVector.zero(P);
                for (int c = 0; c < 32; c += 4 * P.length()) {
                    IntVector v = IntVector.fromMemorySegment(P, w, block + 80 + c, LE);
                    int at = pb + 64 + c / 4;
                    low4 = low4.add(v.and(0x000F000F).mul(IntVector.fromArray(P, pairs, at)))
                            .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 16)));
                    high4 = high4.add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 32)))
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 48)));
                }
                total = total.add(low4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 32 & 0xFF)))
                        .add(high4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 40 & 0xFF)));
            }
            {
                IntVector low4 = IntVector.zero(P);
                IntVector high4 = IntVector.zero(P);
                for (int c = 0; c < 32; c += 4 * P.length()) {
                    IntVector v = IntVector.fromMemorySegment(P, w, block + 112 + c, LE);
                    int at = pb + 72 + c / 4;
                    low4 = low4.add(v.and(0x000F000F).mul(IntVector.fromArray(P, pairs, at)))
                            .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 16)));
                    high4 = high4.add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 32)))
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(P, pairs, at + 48)));
                }
                total = total.add(low4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 48 & 0xFF)))
                        .add(high4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul((int) (codes >>> 56 & 0xFF)));
            }
            acc = ((FloatVector) total.convertShape(VectorOperators.I2F, PF, 0)).fma(FloatVector.broadcast(PF, d), acc);
        }
        FloatVector sum = acc.sub(minAcc);
        sum = sum.add(sum.rearrange(PF_FOLD_0));
        if (PF_FOLD_COUNT > 1) {
            sum = sum.add(sum.rearrange(PF_FOLD_1));
        }
        return sum.lane(0) + sum.lane(1);
    }

    @Override
    public boolean pairsShareDecoding() {
        return Lanes.WIDE;
    }

    /**
     * On 512-bit vectors, the block's header, its nibbles and the scales in their lanes are
     * taken once for both tokens; each token's integer sums and float accumulators are those of
     * {@link #dotWide}, in the same order, so each result is bit for bit what it gets alone.
     */
    @Override
    public void dotPair(MemorySegment w, long offset, QuantizedVector qa, QuantizedVector qb, int n, float[] out,
            int outA, int outB) {
        if (!Lanes.WIDE) {
            super.dotPair(w, offset, qa, qb, n, out, outA, outB);
            return;
        }
        int[] pa = qa.pairs;
        int[] pb = qb.pairs;
        FloatVector accA = FloatVector.zero(WF), minAccA = FloatVector.zero(WF);
        FloatVector accB = FloatVector.zero(WF), minAccB = FloatVector.zero(WF);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            ByteVector head = ByteVector.fromMemorySegment(B16, w, block, LE);
            int dAndMin = head.reinterpretAsInts().lane(0);
            float d = Float.float16ToFloat((short) dAndMin);
            float dmin = Float.float16ToFloat((short) (dAndMin >>> 16));
            IntVector codes = ((IntVector) head.rearrange(KScales.CODES).convertShape(VectorOperators.B2I, W, 0))
                    .lanewise(VectorOperators.LSHR, KScales.CODE_SHIFTS).and(KScales.CODE_MASKS)
                    .or(((IntVector) head.rearrange(KScales.TOPS).convertShape(VectorOperators.B2I, W, 0))
                            .lanewise(VectorOperators.LSHR, 2).and(KScales.TOP_MASKS));
            minAccA = ((FloatVector) codes.mul(IntVector.fromArray(W, qa.sums32, b * 16)).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, dmin * qa.d[b]), minAccA);
            minAccB = ((FloatVector) codes.mul(IntVector.fromArray(W, qb.sums32, b * 16)).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, dmin * qb.d[b]), minAccB);
            int at = b * 128;
            // Each token's pair sums, written out: a helper method taking vectors would not be inlined here.
            IntVector v = IntVector.fromMemorySegment(W, w, block + 16, LE);
            IntVector q0 = v.and(0x000F000F);
            IntVector q1 = v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F);
            IntVector q2 = v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F);
            IntVector q3 = v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F);
            IntVector s0 = codes.rearrange(SUB_BLOCKS_0_2);
            IntVector s1 = codes.rearrange(SUB_BLOCKS_1_3);
            IntVector totalA = q0.mul(IntVector.fromArray(W, pa, at)).add(q1.mul(IntVector.fromArray(W, pa, at + 16)))
                    .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0)
                    .add(q2.mul(IntVector.fromArray(W, pa, at + 32)).add(q3.mul(IntVector.fromArray(W, pa, at + 48)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            IntVector totalB = q0.mul(IntVector.fromArray(W, pb, at)).add(q1.mul(IntVector.fromArray(W, pb, at + 16)))
                    .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0)
                    .add(q2.mul(IntVector.fromArray(W, pb, at + 32)).add(q3.mul(IntVector.fromArray(W, pb, at + 48)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            v = IntVector.fromMemorySegment(W, w, block + 80, LE);
            q0 = v.and(0x000F000F);
            q1 = v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F);
            q2 = v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F);
            q3 = v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F);
            s0 = codes.rearrange(SUB_BLOCKS_4_6);
            s1 = codes.rearrange(SUB_BLOCKS_5_7);
            totalA = totalA.add(q0.mul(IntVector.fromArray(W, pa, at + 64)).add(q1.mul(IntVector.fromArray(W, pa, at + 80)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0))
                    .add(q2.mul(IntVector.fromArray(W, pa, at + 96)).add(q3.mul(IntVector.fromArray(W, pa, at + 112)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            totalB = totalB.add(q0.mul(IntVector.fromArray(W, pb, at + 64)).add(q1.mul(IntVector.fromArray(W, pb, at + 80)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0))
                    .add(q2.mul(IntVector.fromArray(W, pb, at + 96)).add(q3.mul(IntVector.fromArray(W, pb, at + 112)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            accA = ((FloatVector) totalA.convertShape(VectorOperators.I2F, WF, 0)).fma(FloatVector.broadcast(WF, d * qa.d[b]), accA);
            accB = ((FloatVector) totalB.convertShape(VectorOperators.I2F, WF, 0)).fma(FloatVector.broadcast(WF, d * qb.d[b]), accB);
        }
        FloatVector sumA = accA.sub(minAccA);
        FloatVector sumB = accB.sub(minAccB);
        sumA = sumA.add(sumA.rearrange(WF_FOLD_0));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_0));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_1));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_1));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_2));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_2));
        out[outA] = sumA.lane(0) + sumA.lane(1);
        out[outB] = sumB.lane(0) + sumB.lane(1);
    }

    /**
     * On 512-bit vectors, rows go in pairs ({@link WeightKernel#dotRows}): a row of a few blocks
     * costs a fixed amount besides them (the call, the loop's start, two reductions), which a
     * pair shares, as it shares each loaded vector of activation pairs. One thread, rows of 1536
     * columns: 8.8 ns a block from memory alone, 7.2 in pairs half apart, 10.0 in neighbouring
     * pairs; a decode step of the 1.5B shape in Q4_K_M 9-16% faster (in-process A/B, 80 steps a
     * side).
     */
    @Override
    boolean takesRowPairs() {
        return Lanes.WIDE;
    }

    /**
     * {@link #dotWide} for two rows ({@link WeightKernel#dotRowPair}), at byte offsets {@code a}
     * and {@code b}, results to {@code out[at]} and {@code out[at + nextOut]}: each loaded vector
     * of activation pairs serves both, and each row's sums and accumulators are those of
     * {@link #dotWide}, in the same order, so each result is bit for bit what it gets alone.
     */
    @Override
    void dotRowPair(MemorySegment w, long a, long b, QuantizedVector qx, int n, float[] out, int at, int nextOut) {
        int[] pairs = qx.pairs;
        int[] sums32 = qx.sums32;
        FloatVector accA = FloatVector.zero(WF), minAccA = FloatVector.zero(WF);
        FloatVector accB = FloatVector.zero(WF), minAccB = FloatVector.zero(WF);
        for (int k = 0; k < n / BLOCK; k++) {
            long blockA = a + (long) k * BYTES;
            long blockB = b + (long) k * BYTES;
            float dx = qx.d[k];
            ByteVector headA = ByteVector.fromMemorySegment(B16, w, blockA, LE);
            ByteVector headB = ByteVector.fromMemorySegment(B16, w, blockB, LE);
            int dAndMinA = headA.reinterpretAsInts().lane(0);
            int dAndMinB = headB.reinterpretAsInts().lane(0);
            IntVector codesA = ((IntVector) headA.rearrange(KScales.CODES).convertShape(VectorOperators.B2I, W, 0))
                    .lanewise(VectorOperators.LSHR, KScales.CODE_SHIFTS).and(KScales.CODE_MASKS)
                    .or(((IntVector) headA.rearrange(KScales.TOPS).convertShape(VectorOperators.B2I, W, 0))
                            .lanewise(VectorOperators.LSHR, 2).and(KScales.TOP_MASKS));
            IntVector codesB = ((IntVector) headB.rearrange(KScales.CODES).convertShape(VectorOperators.B2I, W, 0))
                    .lanewise(VectorOperators.LSHR, KScales.CODE_SHIFTS).and(KScales.CODE_MASKS)
                    .or(((IntVector) headB.rearrange(KScales.TOPS).convertShape(VectorOperators.B2I, W, 0))
                            .lanewise(VectorOperators.LSHR, 2).and(KScales.TOP_MASKS));
            IntVector sums = IntVector.fromArray(W, sums32, k * 16);
            minAccA = ((FloatVector) codesA.mul(sums).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, Float.float16ToFloat((short) (dAndMinA >>> 16)) * dx), minAccA);
            minAccB = ((FloatVector) codesB.mul(sums).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, Float.float16ToFloat((short) (dAndMinB >>> 16)) * dx), minAccB);
            int pb = k * 128;
            IntVector y0 = IntVector.fromArray(W, pairs, pb);
            IntVector y1 = IntVector.fromArray(W, pairs, pb + 16);
            IntVector y2 = IntVector.fromArray(W, pairs, pb + 32);
            IntVector y3 = IntVector.fromArray(W, pairs, pb + 48);
            IntVector v = IntVector.fromMemorySegment(W, w, blockA + 16, LE);
            IntVector totalA = v.and(0x000F000F).mul(y0).add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(y1))
                    .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesA.rearrange(SUB_BLOCKS_0_2))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(y2)
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(y3))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesA.rearrange(SUB_BLOCKS_1_3)));
            v = IntVector.fromMemorySegment(W, w, blockB + 16, LE);
            IntVector totalB = v.and(0x000F000F).mul(y0).add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(y1))
                    .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesB.rearrange(SUB_BLOCKS_0_2))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(y2)
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(y3))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesB.rearrange(SUB_BLOCKS_1_3)));
            y0 = IntVector.fromArray(W, pairs, pb + 64);
            y1 = IntVector.fromArray(W, pairs, pb + 80);
            y2 = IntVector.fromArray(W, pairs, pb + 96);
            y3 = IntVector.fromArray(W, pairs, pb + 112);
            v = IntVector.fromMemorySegment(W, w, blockA + 80, LE);
            totalA = totalA.add(v.and(0x000F000F).mul(y0).add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(y1))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesA.rearrange(SUB_BLOCKS_4_6)))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(y2)
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(y3))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesA.rearrange(SUB_BLOCKS_5_7)));
            v = IntVector.fromMemorySegment(W, w, blockB + 80, LE);
            totalB = totalB.add(v.and(0x000F000F).mul(y0).add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(y1))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesB.rearrange(SUB_BLOCKS_4_6)))
                    .add(v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(y2)
                            .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(y3))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codesB.rearrange(SUB_BLOCKS_5_7)));
            accA = ((FloatVector) totalA.convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, Float.float16ToFloat((short) dAndMinA) * dx), accA);
            accB = ((FloatVector) totalB.convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, Float.float16ToFloat((short) dAndMinB) * dx), accB);
        }
        FloatVector sumA = accA.sub(minAccA);
        FloatVector sumB = accB.sub(minAccB);
        sumA = sumA.add(sumA.rearrange(WF_FOLD_0));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_0));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_1));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_1));
        sumA = sumA.add(sumA.rearrange(WF_FOLD_2));
        sumB = sumB.add(sumB.rearrange(WF_FOLD_2));
        out[at] = sumA.lane(0) + sumA.lane(1);
        out[at + nextOut] = sumB.lane(0) + sumB.lane(1);
    }

    /**
     * {@link #dot} on 512-bit vectors: one load takes two runs of quants, j and j + 1, so its low
     * nibbles are sub-blocks 2j and 2j + 2 (lanes 0-7 and 8-15) and its high nibbles 2j + 1 and
     * 2j + 3, each half scaled by its own sub-block's scale.
     */
    private static float dotWide(MemorySegment w, long offset, QuantizedVector qx, int n) {
        int[] pairs = qx.pairs;
        int[] sums32 = qx.sums32;
        FloatVector acc = FloatVector.zero(WF);
        FloatVector minAcc = FloatVector.zero(WF);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            // The header: d and dmin, then the eight scales (lanes 0-7) and minimums (8-15) from
            // their 12 packed bytes (see KScales), with the minimums' term, Σ min · Σ y.
            ByteVector head = ByteVector.fromMemorySegment(B16, w, block, LE);
            int dAndMin = head.reinterpretAsInts().lane(0);
            float d = Float.float16ToFloat((short) dAndMin) * qx.d[b];
            float dmin = Float.float16ToFloat((short) (dAndMin >>> 16)) * qx.d[b];
            IntVector codes = ((IntVector) head.rearrange(KScales.CODES).convertShape(VectorOperators.B2I, W, 0))
                    .lanewise(VectorOperators.LSHR, KScales.CODE_SHIFTS).and(KScales.CODE_MASKS)
                    .or(((IntVector) head.rearrange(KScales.TOPS).convertShape(VectorOperators.B2I, W, 0))
                            .lanewise(VectorOperators.LSHR, 2).and(KScales.TOP_MASKS));
            minAcc = ((FloatVector) codes.mul(IntVector.fromArray(W, sums32, b * 16)).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, dmin), minAcc);
            int pb = b * 128;
            IntVector v = IntVector.fromMemorySegment(W, w, block + 16, LE);
            IntVector low4 = v.and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 16)));
            IntVector high4 = v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 32))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 48)));
            IntVector total = low4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codes.rearrange(SUB_BLOCKS_0_2))
                    .add(high4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codes.rearrange(SUB_BLOCKS_1_3)));
            v = IntVector.fromMemorySegment(W, w, block + 80, LE);
            low4 = v.and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 64))
                    .add(v.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 80)));
            high4 = v.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 96))
                    .add(v.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).mul(IntVector.fromArray(W, pairs, pb + 112)));
            total = total.add(low4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codes.rearrange(SUB_BLOCKS_4_6)))
                    .add(high4.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(codes.rearrange(SUB_BLOCKS_5_7)));
            acc = ((FloatVector) total.convertShape(VectorOperators.I2F, WF, 0)).fma(FloatVector.broadcast(WF, d), acc);
        }
        FloatVector sum = acc.sub(minAcc);
        sum = sum.add(sum.rearrange(WF_FOLD_0));
        sum = sum.add(sum.rearrange(WF_FOLD_1));
        sum = sum.add(sum.rearrange(WF_FOLD_2));
        return sum.lane(0) + sum.lane(1);
    }
}
