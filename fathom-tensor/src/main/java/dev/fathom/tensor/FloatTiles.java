package dev.fathom.tensor;

import dev.fathom.tensor.kernel.VectorMath;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Products of float matrices in register tiles, on the calling thread: the prompt path's panels
 * of decoded weights against the tokens, and attention's queries against a block of cached keys
 * and its probabilities against their values. Row-major throughout, each with its own offset
 * and row stride.
 */
public final class FloatTiles {
    /** The preferred width up to 512 bits, as the weight kernels take it (at most three folds). */
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED
            .withShape(VectorShape.forBitSize(Math.min(512, FloatVector.SPECIES_PREFERRED.vectorBitSize())));
    /** Lanes summed in a fixed order ({@link VectorMath#folds}), the folds written out one by one. */
    private static final VectorShuffle<Float>[] FOLDS = VectorMath.folds(F);
    private static final int FOLD_COUNT = FOLDS.length;
    private static final VectorShuffle<Float> FOLD_0 = FOLDS[0];
    private static final VectorShuffle<Float> FOLD_1 = FOLDS[Math.min(1, FOLD_COUNT - 1)];
    private static final VectorShuffle<Float> FOLD_2 = FOLDS[Math.min(2, FOLD_COUNT - 1)];
    /** Rows of B per tile of {@link #products}: 4 × 4 rows with 32 vector registers, 3 × 4 with 16 (see {@link VectorRegisters}). */
    private static final boolean REGISTERS_32 = VectorRegisters.COUNT == 32;
    static final int TILE_ROWS = REGISTERS_32 ? 4 : 3;

    private FloatTiles() {
    }

    /**
     * {@code out[outAt + i·stride + j] = A_i · B_j} for the {@code aRows} rows of A (each
     * {@code k} long, the first at {@code a[aAt]}, the next {@code aStride} further on) and the
     * {@code bRows} of B. Tiles of 4 rows of A × 4 of B (3 of B where the CPU has 16 vector
     * registers: sixteen accumulators would not leave room for the operands, and the JIT would
     * spill them to the stack on every step), so that every loaded vector serves three or four
     * products.
     */
    public static void products(float[] a, int aAt, int aStride, int aRows, float[] b, int bAt, int bStride, int bRows,
            int k, float[] out, int outAt, int stride) {
        int i = 0;
        for (; i + 4 <= aRows; i += 4) {
            int j = 0;
            for (; j + TILE_ROWS <= bRows; j += TILE_ROWS) {
                if (REGISTERS_32) {
                    tile4x4(b, bAt + j * bStride, bStride, a, aAt + i * aStride, aStride, k, out, outAt + i * stride + j, stride);
                } else {
                    tile3x4(b, bAt + j * bStride, bStride, a, aAt + i * aStride, aStride, k, out, outAt + i * stride + j, stride);
                }
            }
            for (; j < bRows; j++) {
                for (int u = i; u < i + 4; u++) {
                    out[outAt + u * stride + j] = dot(b, bAt + j * bStride, a, aAt + u * aStride, k);
                }
            }
        }
        for (; i < aRows; i++) {
            for (int j = 0; j < bRows; j++) {
                out[outAt + i * stride + j] = dot(b, bAt + j * bStride, a, aAt + i * aStride, k);
            }
        }
    }

    /**
     * {@code out[outAt + i·outStride + c] += Σ_t p[pAt + i·pStride + t] · v[vAt + t·vStride + c]}
     * for {@code rows} rows i, {@code count} terms t and {@code width} columns c: each row of P
     * weighs the rows of V (attention's probabilities and values). Tiles of 4 rows × 2 vectors
     * of columns, whose accumulators stay in registers while the terms go by.
     */
    public static void weightedSums(float[] p, int pAt, int pStride, int rows, float[] v, int vAt, int vStride,
            int count, int width, float[] out, int outAt, int outStride) {
        int step = F.length();
        int i = 0;
        for (; i + 4 <= rows; i += 4) {
            int c = 0;
            for (; c + 2 * step <= width; c += 2 * step) {
                sums4x2(p, pAt + i * pStride, pStride, v, vAt + c, vStride, count, out, outAt + i * outStride + c, outStride);
            }
            for (int u = i; u < i + 4; u++) {
                sumsOfRow(p, pAt + u * pStride, v, vAt, vStride, count, c, width, out, outAt + u * outStride);
            }
        }
        for (; i < rows; i++) {
            sumsOfRow(p, pAt + i * pStride, v, vAt, vStride, count, 0, width, out, outAt + i * outStride);
        }
    }

    /** Four rows of P against two vectors of V's columns: eight accumulators. */
    private static void sums4x2(float[] p, int pAt, int pStride, float[] v, int vAt, int vStride, int count,
            float[] out, int o, int outStride) {
        int step = F.length();
        FloatVector a00 = FloatVector.fromArray(F, out, o), a01 = FloatVector.fromArray(F, out, o + step);
        FloatVector a10 = FloatVector.fromArray(F, out, o + outStride), a11 = FloatVector.fromArray(F, out, o + outStride + step);
        FloatVector a20 = FloatVector.fromArray(F, out, o + 2 * outStride), a21 = FloatVector.fromArray(F, out, o + 2 * outStride + step);
        FloatVector a30 = FloatVector.fromArray(F, out, o + 3 * outStride), a31 = FloatVector.fromArray(F, out, o + 3 * outStride + step);
        for (int t = 0; t < count; t++) {
            FloatVector v0 = FloatVector.fromArray(F, v, vAt + t * vStride);
            FloatVector v1 = FloatVector.fromArray(F, v, vAt + t * vStride + step);
            FloatVector p0 = FloatVector.broadcast(F, p[pAt + t]);
            a00 = v0.fma(p0, a00);
            a01 = v1.fma(p0, a01);
            FloatVector p1 = FloatVector.broadcast(F, p[pAt + pStride + t]);
            a10 = v0.fma(p1, a10);
            a11 = v1.fma(p1, a11);
            FloatVector p2 = FloatVector.broadcast(F, p[pAt + 2 * pStride + t]);
            a20 = v0.fma(p2, a20);
            a21 = v1.fma(p2, a21);
            FloatVector p3 = FloatVector.broadcast(F, p[pAt + 3 * pStride + t]);
            a30 = v0.fma(p3, a30);
            a31 = v1.fma(p3, a31);
        }
        a00.intoArray(out, o);
        a01.intoArray(out, o + step);
        a10.intoArray(out, o + outStride);
        a11.intoArray(out, o + outStride + step);
        a20.intoArray(out, o + 2 * outStride);
        a21.intoArray(out, o + 2 * outStride + step);
        a30.intoArray(out, o + 3 * outStride);
        a31.intoArray(out, o + 3 * outStride + step);
    }

    /** Columns [from, width) of one row of {@link #weightedSums}: a vector at a time, then one at a time. */
    private static void sumsOfRow(float[] p, int pAt, float[] v, int vAt, int vStride, int count, int from, int width,
            float[] out, int o) {
        int step = F.length();
        int c = from;
        for (; c + step <= width; c += step) {
            FloatVector acc = FloatVector.fromArray(F, out, o + c);
            for (int t = 0; t < count; t++) {
                acc = FloatVector.fromArray(F, v, vAt + t * vStride + c).fma(FloatVector.broadcast(F, p[pAt + t]), acc);
            }
            acc.intoArray(out, o + c);
        }
        for (; c < width; c++) {
            float sum = out[o + c];
            for (int t = 0; t < count; t++) {
                sum += p[pAt + t] * v[vAt + t * vStride + c];
            }
            out[o + c] = sum;
        }
    }

    /**
     * Four rows of B (at bAt, bAt + bStride, ...) times four rows of A (at aAt, aAt + aStride,
     * ...), sixteen accumulators held in registers; writes out[o + (row of A)·stride + (row of B)].
     */
    private static void tile4x4(float[] b, int bAt, int bStride, float[] a, int aAt, int aStride, int k, float[] out,
            int o, int stride) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        FloatVector a30 = FloatVector.zero(F), a31 = FloatVector.zero(F), a32 = FloatVector.zero(F), a33 = FloatVector.zero(F);
        int step = F.length();
        int c = 0;
        for (; c + step <= k; c += step) {
            FloatVector w0 = FloatVector.fromArray(F, b, bAt + c);
            FloatVector w1 = FloatVector.fromArray(F, b, bAt + bStride + c);
            FloatVector w2 = FloatVector.fromArray(F, b, bAt + 2 * bStride + c);
            FloatVector w3 = FloatVector.fromArray(F, b, bAt + 3 * bStride + c);
            FloatVector x0 = FloatVector.fromArray(F, a, aAt + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            a30 = w3.fma(x0, a30);
            FloatVector x1 = FloatVector.fromArray(F, a, aAt + aStride + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            a31 = w3.fma(x1, a31);
            FloatVector x2 = FloatVector.fromArray(F, a, aAt + 2 * aStride + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            a32 = w3.fma(x2, a32);
            FloatVector x3 = FloatVector.fromArray(F, a, aAt + 3 * aStride + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
            a33 = w3.fma(x3, a33);
        }
        // Summed one by one: gathering the accumulators into an array would make the JIT box them.
        int t0 = o;
        int t1 = o + stride;
        int t2 = o + 2 * stride;
        int t3 = o + 3 * stride;
        a00 = a00.add(a00.rearrange(FOLD_0));
        a01 = a01.add(a01.rearrange(FOLD_0));
        a02 = a02.add(a02.rearrange(FOLD_0));
        a03 = a03.add(a03.rearrange(FOLD_0));
        a10 = a10.add(a10.rearrange(FOLD_0));
        a11 = a11.add(a11.rearrange(FOLD_0));
        a12 = a12.add(a12.rearrange(FOLD_0));
        a13 = a13.add(a13.rearrange(FOLD_0));
        a20 = a20.add(a20.rearrange(FOLD_0));
        a21 = a21.add(a21.rearrange(FOLD_0));
        a22 = a22.add(a22.rearrange(FOLD_0));
        a23 = a23.add(a23.rearrange(FOLD_0));
        a30 = a30.add(a30.rearrange(FOLD_0));
        a31 = a31.add(a31.rearrange(FOLD_0));
        a32 = a32.add(a32.rearrange(FOLD_0));
        a33 = a33.add(a33.rearrange(FOLD_0));
        if (FOLD_COUNT > 1) {
            a00 = a00.add(a00.rearrange(FOLD_1));
            a01 = a01.add(a01.rearrange(FOLD_1));
            a02 = a02.add(a02.rearrange(FOLD_1));
            a03 = a03.add(a03.rearrange(FOLD_1));
            a10 = a10.add(a10.rearrange(FOLD_1));
            a11 = a11.add(a11.rearrange(FOLD_1));
            a12 = a12.add(a12.rearrange(FOLD_1));
            a13 = a13.add(a13.rearrange(FOLD_1));
            a20 = a20.add(a20.rearrange(FOLD_1));
            a21 = a21.add(a21.rearrange(FOLD_1));
            a22 = a22.add(a22.rearrange(FOLD_1));
            a23 = a23.add(a23.rearrange(FOLD_1));
            a30 = a30.add(a30.rearrange(FOLD_1));
            a31 = a31.add(a31.rearrange(FOLD_1));
            a32 = a32.add(a32.rearrange(FOLD_1));
            a33 = a33.add(a33.rearrange(FOLD_1));
        }
        if (FOLD_COUNT > 2) {
            a00 = a00.add(a00.rearrange(FOLD_2));
            a01 = a01.add(a01.rearrange(FOLD_2));
            a02 = a02.add(a02.rearrange(FOLD_2));
            a03 = a03.add(a03.rearrange(FOLD_2));
            a10 = a10.add(a10.rearrange(FOLD_2));
            a11 = a11.add(a11.rearrange(FOLD_2));
            a12 = a12.add(a12.rearrange(FOLD_2));
            a13 = a13.add(a13.rearrange(FOLD_2));
            a20 = a20.add(a20.rearrange(FOLD_2));
            a21 = a21.add(a21.rearrange(FOLD_2));
            a22 = a22.add(a22.rearrange(FOLD_2));
            a23 = a23.add(a23.rearrange(FOLD_2));
            a30 = a30.add(a30.rearrange(FOLD_2));
            a31 = a31.add(a31.rearrange(FOLD_2));
            a32 = a32.add(a32.rearrange(FOLD_2));
            a33 = a33.add(a33.rearrange(FOLD_2));
        }
        out[t0] = a00.lane(0) + a00.lane(1);
        out[t1] = a01.lane(0) + a01.lane(1);
        out[t2] = a02.lane(0) + a02.lane(1);
        out[t3] = a03.lane(0) + a03.lane(1);
        out[t0 + 1] = a10.lane(0) + a10.lane(1);
        out[t1 + 1] = a11.lane(0) + a11.lane(1);
        out[t2 + 1] = a12.lane(0) + a12.lane(1);
        out[t3 + 1] = a13.lane(0) + a13.lane(1);
        out[t0 + 2] = a20.lane(0) + a20.lane(1);
        out[t1 + 2] = a21.lane(0) + a21.lane(1);
        out[t2 + 2] = a22.lane(0) + a22.lane(1);
        out[t3 + 2] = a23.lane(0) + a23.lane(1);
        out[t0 + 3] = a30.lane(0) + a30.lane(1);
        out[t1 + 3] = a31.lane(0) + a31.lane(1);
        out[t2 + 3] = a32.lane(0) + a32.lane(1);
        out[t3 + 3] = a33.lane(0) + a33.lane(1);
        for (int cc = c; cc < k; cc++) { // columns past the last full vector
            for (int i = 0; i < 4; i++) {
                for (int t = 0; t < 4; t++) {
                    out[o + t * stride + i] += b[bAt + i * bStride + cc] * a[aAt + t * aStride + cc];
                }
            }
        }
    }

    /** As {@link #tile4x4}, for three rows of B: twelve accumulators, which 16 registers hold with the operands. */
    private static void tile3x4(float[] b, int bAt, int bStride, float[] a, int aAt, int aStride, int k, float[] out,
            int o, int stride) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a02 = FloatVector.zero(F), a03 = FloatVector.zero(F);
        FloatVector a10 = FloatVector.zero(F), a11 = FloatVector.zero(F), a12 = FloatVector.zero(F), a13 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a22 = FloatVector.zero(F), a23 = FloatVector.zero(F);
        int step = F.length();
        int c = 0;
        for (; c + step <= k; c += step) {
            FloatVector w0 = FloatVector.fromArray(F, b, bAt + c);
            FloatVector w1 = FloatVector.fromArray(F, b, bAt + bStride + c);
            FloatVector w2 = FloatVector.fromArray(F, b, bAt + 2 * bStride + c);
            FloatVector x0 = FloatVector.fromArray(F, a, aAt + c);
            a00 = w0.fma(x0, a00);
            a10 = w1.fma(x0, a10);
            a20 = w2.fma(x0, a20);
            FloatVector x1 = FloatVector.fromArray(F, a, aAt + aStride + c);
            a01 = w0.fma(x1, a01);
            a11 = w1.fma(x1, a11);
            a21 = w2.fma(x1, a21);
            FloatVector x2 = FloatVector.fromArray(F, a, aAt + 2 * aStride + c);
            a02 = w0.fma(x2, a02);
            a12 = w1.fma(x2, a12);
            a22 = w2.fma(x2, a22);
            FloatVector x3 = FloatVector.fromArray(F, a, aAt + 3 * aStride + c);
            a03 = w0.fma(x3, a03);
            a13 = w1.fma(x3, a13);
            a23 = w2.fma(x3, a23);
        }
        int t0 = o;
        int t1 = o + stride;
        int t2 = o + 2 * stride;
        int t3 = o + 3 * stride;
        a00 = a00.add(a00.rearrange(FOLD_0));
        a01 = a01.add(a01.rearrange(FOLD_0));
        a02 = a02.add(a02.rearrange(FOLD_0));
        a03 = a03.add(a03.rearrange(FOLD_0));
        a10 = a10.add(a10.rearrange(FOLD_0));
        a11 = a11.add(a11.rearrange(FOLD_0));
        a12 = a12.add(a12.rearrange(FOLD_0));
        a13 = a13.add(a13.rearrange(FOLD_0));
        a20 = a20.add(a20.rearrange(FOLD_0));
        a21 = a21.add(a21.rearrange(FOLD_0));
        a22 = a22.add(a22.rearrange(FOLD_0));
        a23 = a23.add(a23.rearrange(FOLD_0));
        if (FOLD_COUNT > 1) {
            a00 = a00.add(a00.rearrange(FOLD_1));
            a01 = a01.add(a01.rearrange(FOLD_1));
            a02 = a02.add(a02.rearrange(FOLD_1));
            a03 = a03.add(a03.rearrange(FOLD_1));
            a10 = a10.add(a10.rearrange(FOLD_1));
            a11 = a11.add(a11.rearrange(FOLD_1));
            a12 = a12.add(a12.rearrange(FOLD_1));
            a13 = a13.add(a13.rearrange(FOLD_1));
            a20 = a20.add(a20.rearrange(FOLD_1));
            a21 = a21.add(a21.rearrange(FOLD_1));
            a22 = a22.add(a22.rearrange(FOLD_1));
            a23 = a23.add(a23.rearrange(FOLD_1));
        }
        if (FOLD_COUNT > 2) {
            a00 = a00.add(a00.rearrange(FOLD_2));
            a01 = a01.add(a01.rearrange(FOLD_2));
            a02 = a02.add(a02.rearrange(FOLD_2));
            a03 = a03.add(a03.rearrange(FOLD_2));
            a10 = a10.add(a10.rearrange(FOLD_2));
            a11 = a11.add(a11.rearrange(FOLD_2));
            a12 = a12.add(a12.rearrange(FOLD_2));
            a13 = a13.add(a13.rearrange(FOLD_2));
            a20 = a20.add(a20.rearrange(FOLD_2));
            a21 = a21.add(a21.rearrange(FOLD_2));
            a22 = a22.add(a22.rearrange(FOLD_2));
            a23 = a23.add(a23.rearrange(FOLD_2));
        }
        out[t0] = a00.lane(0) + a00.lane(1);
        out[t1] = a01.lane(0) + a01.lane(1);
        out[t2] = a02.lane(0) + a02.lane(1);
        out[t3] = a03.lane(0) + a03.lane(1);
        out[t0 + 1] = a10.lane(0) + a10.lane(1);
        out[t1 + 1] = a11.lane(0) + a11.lane(1);
        out[t2 + 1] = a12.lane(0) + a12.lane(1);
        out[t3 + 1] = a13.lane(0) + a13.lane(1);
        out[t0 + 2] = a20.lane(0) + a20.lane(1);
        out[t1 + 2] = a21.lane(0) + a21.lane(1);
        out[t2 + 2] = a22.lane(0) + a22.lane(1);
        out[t3 + 2] = a23.lane(0) + a23.lane(1);
        for (int cc = c; cc < k; cc++) { // columns past the last full vector
            for (int i = 0; i < 3; i++) {
                for (int t = 0; t < 4; t++) {
                    out[o + t * stride + i] += b[bAt + i * bStride + cc] * a[aAt + t * aStride + cc];
                }
            }
        }
    }

    private static float dot(float[] a, int aOffset, float[] b, int bOffset, int n) {
        FloatVector acc = FloatVector.zero(F);
        int step = F.length();
        int i = 0;
        for (; i + step <= n; i += step) {
            acc = FloatVector.fromArray(F, a, aOffset + i).fma(FloatVector.fromArray(F, b, bOffset + i), acc);
        }
        acc = acc.add(acc.rearrange(FOLD_0));
        if (FOLD_COUNT > 1) {
            acc = acc.add(acc.rearrange(FOLD_1));
        }
        if (FOLD_COUNT > 2) {
            acc = acc.add(acc.rearrange(FOLD_2));
        }
        float sum = acc.lane(0) + acc.lane(1);
        for (; i < n; i++) {
            sum += a[aOffset + i] * b[bOffset + i];
        }
        return sum;
    }
}
