package dev.fathom.tensor.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The 12 bytes in which Q4_K and Q5_K pack eight 6-bit scales and eight 6-bit minimums, one
 * pair per sub-block of 32: sub-blocks 0-3 keep theirs in the low 6 bits of bytes 0-3 (scales)
 * and 4-7 (minimums); sub-blocks 4-7 keep their low 4 bits in the nibbles of bytes 8-11 and
 * their top 2 bits in the spare top bits of bytes 0-7.
 */
final class KScales {
    private final long low;
    private final int high;

    private KScales(long low, int high) {
        this.low = low;
        this.high = high;
    }

    static KScales read(MemorySegment segment, long offset) {
        return new KScales(segment.get(ValueLayout.JAVA_LONG_UNALIGNED, offset),
                segment.get(ValueLayout.JAVA_INT_UNALIGNED, offset + 8));
    }

    private int at(int k) {
        return (int) (k < 8 ? low >>> (8 * k) : high >>> (8 * (k - 8))) & 0xFF;
    }

    int scale(int j) {
        return j < 4 ? at(j) & 63 : (at(j + 4) & 0xF) | (at(j - 4) >> 6) << 4;
    }

    int min(int j) {
        return j < 4 ? at(j + 4) & 63 : (at(j + 4) >> 4) | (at(j) >> 6) << 4;
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
