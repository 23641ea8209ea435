package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ParallelTest {
    @Test
    void everyItemRunsExactlyOnceAcrossManySections() {
        try (Parallel parallel = new Parallel(3)) {
            for (int section = 0; section < 2000; section++) {
                int count = 1 + section % 97;
                AtomicIntegerArray hits = new AtomicIntegerArray(count);
                parallel.forRange(count, 1 + section % 5, (worker, from, to) -> {
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < count; i++) {
                    assertThat(hits.get(i)).isEqualTo(1);
                }
            }
        }
    }

    @Test
    void aFailureInAnyThreadReachesTheCallerAndTheTeamStaysUsable() {
        try (Parallel parallel = new Parallel(2)) {
            assertThatThrownBy(() -> parallel.forRange(100, 1, (worker, from, to) -> {
                if (from == 57) {
                    throw new IllegalStateException("item 57");
                }
            })).hasMessage("item 57");
            int[] sum = new int[1];
            parallel.forRange(10, 10, (worker, from, to) -> sum[0] += to - from);
            assertThat(sum[0]).isEqualTo(10);
        }
    }
}
