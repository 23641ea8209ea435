package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.F;
import static dev.fathom.tensor.kernel.Lanes.I;
import static dev.fathom.tensor.kernel.Lanes.S16;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** The lane masks that spread the packed fifth bits of Q5_0 and Q5_1 blocks over vector lanes. */
final class FifthBits {
    private FifthBits() {
    }

    /** Lane i holds 1 << i, in shorts. */
    static final ShortVector LANE_BITS;
    /** Lane i holds 1 << i, in ints. */
    private static final IntVector INT_LANE_BITS;

    static {
        short[] bits = new short[S16.length()];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = (short) (1 << i);
        }
        LANE_BITS = ShortVector.fromArray(S16, bits, 0);
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
