package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CacheLinesTest {
    @Test
    void theProbeFindsTheLineStartInMemoryWhoseAddressIsKnown() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment lines = arena.allocate(4 * CacheLines.BYTES, CacheLines.BYTES);
            for (int skew = 0; skew < CacheLines.BYTES; skew += 4) {
                int expected = (CacheLines.BYTES - skew) % CacheLines.BYTES / Float.BYTES;
                assertThat(CacheLines.firstAligned(lines.asSlice(skew), Float.BYTES)).as("%d bytes past a line", skew)
                        .isEqualTo(expected);
            }
        }
    }

    @Test
    void arraysGetTheFirstIndexOnALineAndItDependsOnWhereEachArrayLies() {
        Set<Integer> seen = new HashSet<>();
        float[][] keep = new float[64][];
        for (int i = 0; i < keep.length; i++) {
            keep[i] = new float[1 + i];
            int first = CacheLines.firstAligned(keep[i]);
            assertThat(first).isBetween(0, CacheLines.FLOATS - 1);
            seen.add(first);
        }
        assertThat(seen).as("arrays of 1 to 64 floats laid end to end start at different offsets within a line")
                .hasSizeGreaterThan(1);
    }
}
