package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.B16;
import static dev.fathom.tensor.kernel.Lanes.B8;
import static dev.fathom.tensor.kernel.Lanes.F16;
import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.FIRST_TWICE;
import static dev.fathom.tensor.kernel.Lanes.LE;
import static dev.fathom.tensor.kernel.Lanes.P8;
import static dev.fathom.tensor.kernel.Lanes.P;
import static dev.fathom.tensor.kernel.Lanes.PF;
import static dev.fathom.tensor.kernel.Lanes.PF_FOLD_0;
import static dev.fathom.tensor.kernel.Lanes.PF_FOLD_1;
import static dev.fathom.tensor.kernel.Lanes.PF_FOLD_COUNT;
import static dev.fathom.tensor.kernel.Lanes.SECOND_TWICE;
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
import jdk.incubator.vector.VectorShuffle;

/**
 * Q6_K: super-blocks of 256 values in 16 groups of 16. 128 bytes of low nibbles, 64 bytes of
 * 2-bit high parts, 16 signed 8-bit group scales, then an f16 d; value = d · scale · (q − 32).
 * Each half of 128 values uses 64 nibble bytes and 32 high bytes: nibble byte l holds values l
 * (low) and l + 64 (high), byte l + 32 values l + 32 and l + 96; high byte l holds bits 4-5 of
 * values l, l + 32, l + 64 and l + 96 in its bit pairs 0, 2, 4 and 6.
 */
final class Q6_KKernel extends WeightKernel {
    static final int BLOCK = 256;
    static final int BYTES = 210;

    /** With eight lanes, run r's scales: group 2r in lanes 0-3, group 2r + 1 in lanes 4-7. */
    private static final VectorShuffle<Integer> RUN_0 = runScales(0);
    private static final VectorShuffle<Integer> RUN_1 = runScales(1);
    private static final VectorShuffle<Integer> RUN_2 = runScales(2);
    private static final VectorShuffle<Integer> RUN_3 = runScales(3);

    private static VectorShuffle<Integer> runScales(int run) {
        return VectorShuffle.fromOp(P, lane -> 2 * run + (P8 && lane >= 4 ? 1 : 0));
    }

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public ActivationFormat activationFormat() {
        return ActivationFormat.Q8_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Lanes.f16(src, block + 208);
            int out = dstOffset + b * BLOCK;
            for (int e = 0; e < 256; e += 128) {
                long low = block + e / 2;
                long high = block + 128 + e / 4;
                for (int c = 0; c < 32; c += F.length()) {
                    ByteVector low0 = Lanes.bytesForFloats(src, low + c);
                    ByteVector low1 = Lanes.bytesForFloats(src, low + 32 + c);
                    ByteVector bits = Lanes.bytesForFloats(src, high + c);
                    for (int k = 0; k < 4; k++) {
                        ByteVector nibbles = (k & 1) == 0 ? low0 : low1;
                        ByteVector q = (k < 2 ? nibbles.and((byte) 0xF) : nibbles.lanewise(VectorOperators.LSHR, 4))
                                .or(bits.lanewise(VectorOperators.LSHR, 2 * k).and((byte) 3).lanewise(VectorOperators.LSHL, 4));
                        int at = e + 32 * k + c;
                        float scale = d * src.get(ValueLayout.JAVA_BYTE, block + 192 + at / 16);
                        ((FloatVector) q.convertShape(VectorOperators.B2F, F, 0)).sub(32f).mul(scale).intoArray(dst, out + at);
                    }
                }
            }
        }
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int[] q = new int[BLOCK];
        byte[] scaleCodes = new byte[16];
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = KQuantizer.symmetric6(src, srcOffset + b * BLOCK, q, scaleCodes);
            for (int half = 0; half < 2; half++) {
                for (int l = 0; l < 32; l++) {
                    int e = 128 * half + l;
                    int q0 = q[e];
                    int q1 = q[e + 32];
                    int q2 = q[e + 64];
                    int q3 = q[e + 96];
                    dst.set(ValueLayout.JAVA_BYTE, block + 64 * half + l, (byte) ((q0 & 0xF) | (q2 & 0xF) << 4));
                    dst.set(ValueLayout.JAVA_BYTE, block + 64 * half + l + 32, (byte) ((q1 & 0xF) | (q3 & 0xF) << 4));
                    dst.set(ValueLayout.JAVA_BYTE, block + 128 + 32 * half + l,
                            (byte) ((q0 >> 4) | (q1 >> 4) << 2 | (q2 >> 4) << 4 | (q3 >> 4) << 6));
                }
            }
            MemorySegment.copy(scaleCodes, 0, dst, ValueLayout.JAVA_BYTE, block + 192, 16);
            dst.set(F16, block + 208, Float.floatToFloat16(d));
        }
    }

    /**
     * Paired products (see {@link Lanes}). A half of 128 values reads three runs of 32 bytes: low
     * nibbles L0 (values l and l + 64) and L1 (l + 32, l + 96), and the 2-bit high parts H; each
     * 32-value run r takes its quant pairs from one nibble of L0 or L1 and one bit pair of H. Per
     * lane and group at most four products of 63 · 127 add up (the even and odd pair), within the
     * halves. A run spans two groups of 16, each with its own scale: with eight lanes, lanes 0-3
     * take the first and 4-7 the second. The quants are kept unsigned (0-63) and the −32 offset
     * applied at the end as −32 · Σ scale · Σ y per group.
     */
    @Override
    public float dot(MemorySegment w, long offset, float[] x, int xOffset, QuantizedVector qx, int n) {
        if (Lanes.WIDE) {
            return dotWide(w, offset, qx, n);
        }
        int[] pairs = qx.pairs;
        int[] sums16 = qx.sums16;
        FloatVector acc = FloatVector.zero(PF);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Float.float16ToFloat(w.get(F16, block + 208)) * qx.d[b];
            IntVector total = IntVector.zero(P);
            IntVector offsets = IntVector.zero(P);
            for (int h = 0; h < 2; h++) {
                long scales = block + 192 + 8 * h;
                ByteVector scaleBytes = ByteVector.fromMemorySegment(B8, w, scales, LE);
                for (int part = 0; part < 8 / P.length(); part++) {
                    offsets = offsets.add(((IntVector) scaleBytes.convertShape(VectorOperators.B2I, P, part))
                            .mul(IntVector.fromArray(P, sums16, b * 16 + 8 * h + part * P.length())));
                }
                // With eight lanes, each run's two scales spread over its lanes; with four, one scale per load.
                IntVector groupScales = P8 ? (IntVector) scaleBytes.convertShape(VectorOperators.B2I, P, 0) : null;
                for (int c = 0; c < 32; c += 4 * P.length()) {
                    IntVector l0 = IntVector.fromMemorySegment(P, w, block + 64 * h + c, LE);
                    IntVector l1 = IntVector.fromMemorySegment(P, w, block + 64 * h + 32 + c, LE);
                    IntVector hb = IntVector.fromMemorySegment(P, w, block + 128 + 32 * h + c, LE);
                    int at = b * 128 + 64 * h + c / 4;
                    IntVector r0 = l0.and(0x000F000F).or(hb.lanewise(VectorOperators.LSHL, 4).and(0x00300030))
                            .mul(IntVector.fromArray(P, pairs, at))
                            .add(l0.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).or(hb.lanewise(VectorOperators.LSHR, 4).and(0x00300030))
                                    .mul(IntVector.fromArray(P, pairs, at + 16)));
                    IntVector r1 = l1.and(0x000F000F).or(hb.lanewise(VectorOperators.LSHL, 2).and(0x00300030))
                            .mul(IntVector.fromArray(P, pairs, at + 32))
                            .add(l1.lanewise(VectorOperators.LSHR, 8).and(0x000F000F).or(hb.lanewise(VectorOperators.LSHR, 6).and(0x00300030))
                                    .mul(IntVector.fromArray(P, pairs, at + 48)));
                    IntVector r2 = l0.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).or(hb.and(0x00300030))
                            .mul(IntVector.fromArray(P, pairs, at + 8))
                            .add(l0.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).or(hb.lanewise(VectorOperators.LSHR, 8).and(0x00300030))
                                    .mul(IntVector.fromArray(P, pairs, at + 24)));
                    IntVector r3 = l1.lanewise(VectorOperators.LSHR, 4).and(0x000F000F).or(hb.lanewise(VectorOperators.LSHR, 2).and(0x00300030))
                            .mul(IntVector.fromArray(P, pairs, at + 40))
                            .add(l1.lanewise(VectorOperators.LSHR, 12).and(0x000F000F).or(hb.lanewise(VectorOperators.LSHR, 10).and(0x00300030))
                                    .mul(IntVector.fromArray(P, pairs, at + 56)));
                    int group = c / 16; // of the load's first lane, within the run's two
                    total = total
                            .add(r0.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(P8 ? groupScales.rearrange(RUN_0)
                                    : IntVector.broadcast(P, w.get(ValueLayout.JAVA_BYTE, scales + group))))
                            .add(r1.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(P8 ? groupScales.rearrange(RUN_1)
                                    : IntVector.broadcast(P, w.get(ValueLayout.JAVA_BYTE, scales + 2 + group))))
                            .add(r2.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(P8 ? groupScales.rearrange(RUN_2)
                                    : IntVector.broadcast(P, w.get(ValueLayout.JAVA_BYTE, scales + 4 + group))))
                            .add(r3.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(P8 ? groupScales.rearrange(RUN_3)
                                    : IntVector.broadcast(P, w.get(ValueLayout.JAVA_BYTE, scales + 6 + group))));
                }
            }
            // Per lane at most 64 quants of 63 times activations of 127 and scales of 128: inside an int.
            acc = ((FloatVector) total.sub(offsets.lanewise(VectorOperators.LSHL, 5)).convertShape(VectorOperators.I2F, PF, 0))
                    .fma(FloatVector.broadcast(PF, d), acc);
        }
        acc = acc.add(acc.rearrange(PF_FOLD_0));
        if (PF_FOLD_COUNT > 1) {
            acc = acc.add(acc.rearrange(PF_FOLD_1));
        }
        return acc.lane(0) + acc.lane(1);
    }

    @Override
    public boolean pairsShareDecoding() {
        return Lanes.WIDE;
    }

    /**
     * On 512-bit vectors, each half's quants are assembled once for both tokens; each token's
     * integer sums and float accumulator are those of {@link #dotWide}, in the same order, so each
     * result is bit for bit what it gets alone.
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
        FloatVector accA = FloatVector.zero(WF);
        FloatVector accB = FloatVector.zero(WF);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Float.float16ToFloat(w.get(F16, block + 208));
            IntVector scales = (IntVector) ByteVector.fromMemorySegment(B16, w, block + 192, LE)
                    .convertShape(VectorOperators.B2I, W, 0);
            IntVector bits = IntVector.fromMemorySegment(W, w, block + 128, LE);
            int at = b * 128;
            IntVector totalA = IntVector.zero(W);
            IntVector totalB = IntVector.zero(W);
            // Each token's pair sums, written out: a loop over the halves, or a helper method taking
            // vectors, would not be compiled to vector code here.
            // The first half: groups 0-3.
            IntVector nibbles = IntVector.fromMemorySegment(W, w, block, LE);
            IntVector l0 = nibbles.rearrange(FIRST_TWICE);
            IntVector l1 = nibbles.rearrange(SECOND_TWICE);
            IntVector h0 = bits.rearrange(FIRST_TWICE);
            IntVector h1 = h0.lanewise(VectorOperators.LSHR, 2);
            IntVector q0 = l0.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h0.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030));
            IntVector q1 = l0.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                    .or(h0.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030));
            IntVector q2 = l1.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h1.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030));
            IntVector q3 = l1.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                    .or(h1.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030));
            IntVector s0 = scales.rearrange(SCALES_0);
            IntVector s1 = scales.rearrange(SCALES_1);
            totalA = totalA.add(q0.mul(IntVector.fromArray(W, pa, at)).add(q1.mul(IntVector.fromArray(W, pa, at + 16)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0))
                    .add(q2.mul(IntVector.fromArray(W, pa, at + 32)).add(q3.mul(IntVector.fromArray(W, pa, at + 48)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            totalB = totalB.add(q0.mul(IntVector.fromArray(W, pb, at)).add(q1.mul(IntVector.fromArray(W, pb, at + 16)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0))
                    .add(q2.mul(IntVector.fromArray(W, pb, at + 32)).add(q3.mul(IntVector.fromArray(W, pb, at + 48)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            // The second half: groups 4-7.
            nibbles = IntVector.fromMemorySegment(W, w, block + 64, LE);
            l0 = nibbles.rearrange(FIRST_TWICE);
            l1 = nibbles.rearrange(SECOND_TWICE);
            h0 = bits.rearrange(SECOND_TWICE);
            h1 = h0.lanewise(VectorOperators.LSHR, 2);
            q0 = l0.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h0.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030));
            q1 = l0.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                    .or(h0.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030));
            q2 = l1.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h1.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030));
            q3 = l1.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                    .or(h1.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030));
            s0 = scales.rearrange(SCALES_4);
            s1 = scales.rearrange(SCALES_5);
            totalA = totalA.add(q0.mul(IntVector.fromArray(W, pa, at + 64)).add(q1.mul(IntVector.fromArray(W, pa, at + 80)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0))
                    .add(q2.mul(IntVector.fromArray(W, pa, at + 96)).add(q3.mul(IntVector.fromArray(W, pa, at + 112)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            totalB = totalB.add(q0.mul(IntVector.fromArray(W, pb, at + 64)).add(q1.mul(IntVector.fromArray(W, pb, at + 80)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s0))
                    .add(q2.mul(IntVector.fromArray(W, pb, at + 96)).add(q3.mul(IntVector.fromArray(W, pb, at + 112)))
                            .add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(s1));
            IntVector offsetsA = scales.mul(IntVector.fromArray(W, qa.sums16, b * 16));
            IntVector offsetsB = scales.mul(IntVector.fromArray(W, qb.sums16, b * 16));
            accA = ((FloatVector) totalA.sub(offsetsA.lanewise(VectorOperators.LSHL, 5)).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, d * qa.d[b]), accA);
            accB = ((FloatVector) totalB.sub(offsetsB.lanewise(VectorOperators.LSHL, 5)).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, d * qb.d[b]), accB);
        }
        accA = accA.add(accA.rearrange(WF_FOLD_0));
        accB = accB.add(accB.rearrange(WF_FOLD_0));
        accA = accA.add(accA.rearrange(WF_FOLD_1));
        accB = accB.add(accB.rearrange(WF_FOLD_1));
        accA = accA.add(accA.rearrange(WF_FOLD_2));
        accB = accB.add(accB.rearrange(WF_FOLD_2));
        out[outA] = accA.lane(0) + accA.lane(1);
        out[outB] = accB.lane(0) + accB.lane(1);
    }

    /** Per-half shifts that take groups g and g + 2 of a nibble run, or of its high bits. */
    private static final IntVector NIBBLES_EVEN = Lanes.spread(0, 4);
    private static final IntVector NIBBLES_ODD = Lanes.spread(8, 12);
    private static final IntVector HIGH_EVEN = Lanes.spread(4, 0);
    private static final IntVector HIGH_ODD = Lanes.spread(4, 8);
    /** Group scales (of 16 values) for the lanes of 32-value groups g and g + 2, for g = 0, 1, 4, 5. */
    private static final VectorShuffle<Integer> SCALES_0 = groupScales(0);
    private static final VectorShuffle<Integer> SCALES_1 = groupScales(1);
    private static final VectorShuffle<Integer> SCALES_4 = groupScales(4);
    private static final VectorShuffle<Integer> SCALES_5 = groupScales(5);

    private static VectorShuffle<Integer> groupScales(int g) {
        return VectorShuffle.fromOp(W, lane -> 2 * (lane < 8 ? g : g + 2) + lane % 8 / 4);
    }

    /**
     * {@link #dot} on 512-bit vectors, with the activation pairs of groups g and g + 2 side by
     * side (see {@code QuantizedVector.pairs}): each nibble run and its high bits are read into
     * both halves of a vector, and per-half shifts take group g's quants in the first and
     * g + 2's in the second.
     */
    private static float dotWide(MemorySegment w, long offset, QuantizedVector qx, int n) {
        int[] pairs = qx.pairs;
        int[] sums16 = qx.sums16;
        FloatVector acc = FloatVector.zero(WF);
        for (int b = 0; b < n / BLOCK; b++) {
            long block = offset + (long) b * BYTES;
            float d = Float.float16ToFloat(w.get(F16, block + 208)) * qx.d[b];
            IntVector scales = (IntVector) ByteVector.fromMemorySegment(B16, w, block + 192, LE)
                    .convertShape(VectorOperators.B2I, W, 0);
            IntVector offsets = scales.mul(IntVector.fromArray(W, sums16, b * 16));
            IntVector bits = IntVector.fromMemorySegment(W, w, block + 128, LE); // both halves' high bits
            int pb = b * 128;
            // The first half: groups 0-3.
            IntVector nibbles = IntVector.fromMemorySegment(W, w, block, LE);
            IntVector l0 = nibbles.rearrange(FIRST_TWICE);
            IntVector l1 = nibbles.rearrange(SECOND_TWICE);
            IntVector h0 = bits.rearrange(FIRST_TWICE);
            IntVector h1 = h0.lanewise(VectorOperators.LSHR, 2);
            IntVector r0 = l0.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h0.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb))
                    .add(l0.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                            .or(h0.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 16)));
            IntVector r1 = l1.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h1.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 32))
                    .add(l1.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                            .or(h1.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 48)));
            IntVector total = r0.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(scales.rearrange(SCALES_0))
                    .add(r1.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(scales.rearrange(SCALES_1)));
            // The second half: groups 4-7.
            nibbles = IntVector.fromMemorySegment(W, w, block + 64, LE);
            l0 = nibbles.rearrange(FIRST_TWICE);
            l1 = nibbles.rearrange(SECOND_TWICE);
            h0 = bits.rearrange(SECOND_TWICE);
            h1 = h0.lanewise(VectorOperators.LSHR, 2);
            r0 = l0.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h0.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 64))
                    .add(l0.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                            .or(h0.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 80)));
            r1 = l1.lanewise(VectorOperators.LSHR, NIBBLES_EVEN).and(0x000F000F)
                    .or(h1.lanewise(VectorOperators.LSHL, HIGH_EVEN).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 96))
                    .add(l1.lanewise(VectorOperators.LSHR, NIBBLES_ODD).and(0x000F000F)
                            .or(h1.lanewise(VectorOperators.LSHR, HIGH_ODD).and(0x00300030)).mul(IntVector.fromArray(W, pairs, pb + 112)));
            total = total.add(r0.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(scales.rearrange(SCALES_4)))
                    .add(r1.add(0x8000).lanewise(VectorOperators.ASHR, 16).mul(scales.rearrange(SCALES_5)));
            acc = ((FloatVector) total.sub(offsets.lanewise(VectorOperators.LSHL, 5)).convertShape(VectorOperators.I2F, WF, 0))
                    .fma(FloatVector.broadcast(WF, d), acc);
        }
        acc = acc.add(acc.rearrange(WF_FOLD_0));
        acc = acc.add(acc.rearrange(WF_FOLD_1));
        acc = acc.add(acc.rearrange(WF_FOLD_2));
        return acc.lane(0) + acc.lane(1);
    }
}
