package dev.fathom.tensor.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShuffle;

/**
 * The 12 bytes in which Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit minimums, one
 * pair per sub-block of 32: sub-blocks 0-3 keep theirs in the low 6 bits of bytes 0-3 (scales)
 * and 4-7 (minimums); sub-blocks 4-7 keep their low 4 bits in the nibbles of bytes 8-11 and
 * their top 2 bits in the spare top bits of bytes 0-7.
 */
final class KScales {
    private KScales() {
    }

    /**
     * For the 512-bit kernels, which decode the scales and minimums of a super-block in vector
     * lanes: from its first 16 bytes (d and dmin, then the 12 packed bytes), the byte that holds
     * the low bits of sub-block j's scale (in lane j) and minimum (lane 8 + j) ...
     */
    static final VectorShuffle<Byte> CODES =
            VectorShuffle.fromValues(Lanes.B16, 4, 5, 6, 7, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15);
    /** ... shifted right by this (the minimums of sub-blocks 4-7 are high nibbles) ... */
    static final IntVector CODE_SHIFTS =
            IntVector.fromArray(Lanes.W, new int[] {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4}, 0);
    /** ... and kept under this mask (6 bits for sub-blocks 0-3, 4 for 4-7) ... */
    static final IntVector CODE_MASKS =
            IntVector.fromArray(Lanes.W, new int[] {63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15}, 0);
    /** ... and for sub-blocks 4-7, the byte whose top two bits are the code's bits 4 and 5 ... */
    static final VectorShuffle<Byte> TOPS =
            VectorShuffle.fromValues(Lanes.B16, 0, 0, 0, 0, 4, 5, 6, 7, 0, 0, 0, 0, 8, 9, 10, 11);
    /** ... which a shift right by 2 and this mask put in place. */
    static final IntVector TOP_MASKS =
            IntVector.fromArray(Lanes.W, new int[] {0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30, 0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30}, 0);

    /** Byte k of the 12, given bytes 0-7 as {@code low} and 8-11 as {@code high}. */
    private static int at(long low, int high, int k) {
        return (int) (k < 8 ? low >>> (8 * k) : high >>> (8 * (k - 8))) & 0xFF;
    }

    /** The scale of sub-block j. */
    static int scale(long low, int high, int j) {
        return j < 4 ? at(low, high, j) & 63 : (at(low, high, j + 4) & 0xF) | (at(low, high, j - 4) >> 6) << 4;
    }

    /**
     * All eight scales, one byte each (sub-block j in byte j), from the 12 bytes given as
     * {@code low} (bytes 0-7) and {@code high} (8-11): word arithmetic instead of eight lookups.
     */
    static long scales(long low, int high) {
        int w0 = (int) low;
        int w1 = (int) (low >>> 32);
        int lowFour = w0 & 0x3f3f3f3f;
        int highFour = (high & 0x0f0f0f0f) | ((w0 >>> 6) & 0x03030303) << 4;
        return (lowFour & 0xFFFFFFFFL) | (long) highFour << 32;
    }

    /** All eight minimums, one byte each, as {@link #scales}. */
    static long mins(long low, int high) {
        int w0 = (int) low;
        int w1 = (int) (low >>> 32);
        int lowFour = w1 & 0x3f3f3f3f;
        int highFour = ((high >>> 4) & 0x0f0f0f0f) | ((w1 >>> 6) & 0x03030303) << 4;
        return (lowFour & 0xFFFFFFFFL) | (long) highFour << 32;
    }

    /** The minimum of sub-block j. */
    static int min(long low, int high, int j) {
        return j < 4 ? at(low, high, j + 4) & 63 : (at(low, high, j + 4) >> 4) | (at(low, high, j) >> 6) << 4;
    }

    /** Packs eight scales and eight minimums (each in [0, 63]) into {@code out} at {@code offset}. */
    static void write(int[] scales, int[] mins, MemorySegment out, long offset) {
        byte[] b = new byte[12];
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                b[j] = (byte) scales[j];
                b[j + 4] = (byte) mins[j];
            } else {
                b[j + 4] = (byte) ((scales[j] & 0xF) | (mins[j] & 0xF) << 4);
                b[j - 4] |= (byte) ((scales[j] >> 4) << 6);
                b[j] |= (byte) ((mins[j] >> 4) << 6);
            }
        }
        MemorySegment.copy(b, 0, out, ValueLayout.JAVA_BYTE, offset, 12);
    }
}
