package dev.fathom.tensor.kernel;

import static dev.fathom.tensor.kernel.Lanes.S16;

import jdk.incubator.vector.ShortVector;

/** The lane masks that spread the packed fifth bits of Q5_0 and Q5_1 blocks over short lanes. */
final class FifthBits {
    private FifthBits() {
    }

    /** Lane i holds 1 << i. */
    static final ShortVector LANE_BITS;

    static {
        short[] bits = new short[S16.length()];
        for (int i = 0; i < bits.length; i++) {
            bits[i] = (short) (1 << i);
        }
        LANE_BITS = ShortVector.fromArray(S16, bits, 0);
    }
}
