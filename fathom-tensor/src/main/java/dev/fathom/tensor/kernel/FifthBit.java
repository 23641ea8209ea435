package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.S16;

import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** Spreads the packed fifth bits of Q5_0 and Q5_1 blocks over short lanes. */
final class FifthBit {
    private FifthBit() {
    }

    /** Lane i holds 1 << i. */
    private static final ShortVector LANE_BITS = ShortVector.fromArray(S16, laneBits(), 0);

    private static short[] laneBits() {
        short[] bits = new short[S16.length()];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = (short) (1 << i);
        }
        return bits;
    }

    /** Lane i holds 16 if bit i of {@code bits} is set, else 0. */
    static ShortVector spread(int bits) {
        return ShortVector.zero(S16).blend((short) 16,
                ShortVector.broadcast(S16, (short) bits).and(LANE_BITS).compare(VectorOperators.NE, 0));
    }
}
