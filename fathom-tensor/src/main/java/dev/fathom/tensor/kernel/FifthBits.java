package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/** The lane masks that spread the packed fifth bits of Q5_0 and Q5_1 blocks over vector lanes. */
final class FifthBits {
    private FifthBits() {
    }

    /**
     * Lane k holds 4k: shifting a block's 32 fifth bits right by it puts those of values 4k to
     * 4k + 3 in bits 0-3 of lane k and those of values 16 + 4k on in bits 16-19, the values whose
     * nibbles that lane of the paired products holds (see {@link Lanes}).
     */
    static final IntVector NIBBLE_SHIFTS = IntVector.fromArray(Lanes.P4, new int[] {0, 4, 8, 12}, 0);
    /** {@link #NIBBLE_SHIFTS} for each block of a round of four on 512-bit machines ({@link FourBlocks}). */
    static final IntVector ROUND_SHIFTS =
            IntVector.fromArray(Lanes.W, new int[] {0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12}, 0);
    /** Lane i holds 1 << i, in ints. */
    private static final IntVector INT_LANE_BITS;

    static {
        int[] ints = new int[I.length()];
        for (int i = 0; i < ints.length; i++) {
            ints[i] = 1 << i;
        }
        INT_LANE_BITS = IntVector.fromArray(I, ints, 0);
    }

    /** Float lane i holds 16 if bit i of {@code bits} is set, else 0. */
    static FloatVector spreadFloats(int bits) {
        return FloatVector.zero(F).blend(16f,
                IntVector.broadcast(I, bits).and(INT_LANE_BITS).compare(VectorOperators.NE, 0).cast(F));
    }
}
