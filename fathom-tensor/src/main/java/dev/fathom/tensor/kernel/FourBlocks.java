package dev.fathom.tensor.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Rounds of four blocks for the 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1) on 512-bit machines
 * ({@link Lanes#WIDE}).
 *
 * <p>A block's 16 bytes of nibbles fill four int lanes, so four blocks fill a 512-bit vector:
 * block b takes lanes 4b to 4b + 3. Their blocks are 18 to 24 bytes long, though, so those
 * bytes are not contiguous. A round reads its four blocks (72 to 96 bytes) as two 64-byte
 * loads, the first from the round's start and the last ending at its end, and gathers each
 * field into the lanes with one two-vector short permute ({@code vpermi2w}, AVX-512BW): every
 * field of these formats lies at an even offset. Scales and minimums come out the same way, an
 * f16 in the low half of each lane, so a round scales its four blocks with one vector multiply.
 *
 * <p>The activations' pairs for these formats ({@code QuantizedVector.pairs}) are kept in the
 * order of a round: for each run of four blocks, 16 ints of even pairs of values 0-15 (four per
 * block), then even pairs of 16-31, odd pairs of 0-15 and odd pairs of 16-31; the activations'
 * scales and sums are read 16 at a time from a block on and spread over the lanes by
 * {@link #BLOCK_OF_LANE}.
 */
final class FourBlocks {
    private FourBlocks() {
    }

    /** Shorts of a 512-bit load. */
    static final VectorSpecies<Short> SW = ShortVector.SPECIES_512;
    /** Lane l takes lane l / 4: per-block floats (the activations' scales, sums) spread over their blocks' lanes. */
    static final VectorShuffle<Float> BLOCK_OF_LANE = VectorShuffle.fromOp(FloatVector.SPECIES_512, lane -> lane / 4);
    /**
     * 2¹¹², which takes an f16's exponent, copied into a float's field, to the float's bias; the
     * product is exact for every finite f16, subnormals included. An infinite or NaN scale, which
     * no quantizer writes, reads as a finite one of 2¹⁶ or more.
     */
    static final float F16_EXPONENT_BIAS = 0x1p112f;

    /**
     * The short indexes that gather, for int lane l = 4b + k, the two shorts at bytes
     * {@code b·bytes + at + k·stride} and 2 further, from a round of blocks of {@code bytes}
     * loaded as described above; indexes from 32 on select from the second load.
     */
    static ShortVector field(int bytes, int at, int stride) {
        int second = 4 * bytes - 64; // where the second load starts in the round
        short[] indexes = new short[32];
        for (int lane = 0; lane < 16; lane++) {
            int first = lane / 4 * bytes + at + lane % 4 * stride;
            for (int half = 0; half < 2; half++) {
                int position = first + 2 * half;
                indexes[2 * lane + half] = (short) (position + 1 < 64 ? position / 2 : 32 + (position - second) / 2);
            }
        }
        return ShortVector.fromArray(SW, indexes, 0);
    }
}
