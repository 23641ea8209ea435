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

    @Test
    void aClosedTeamRefusesWorkInsteadOfWaitingForever() {
        Parallel parallel = new Parallel(2);
        parallel.close();
        assertThatThrownBy(() -> parallel.forRange(100, 1, (worker, from, to) -> { }))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void aNestedSectionIsRefusedAndTheTeamStaysUsable() {
        try (Parallel parallel = new Parallel(2)) {
            assertThatThrownBy(() -> parallel.forRange(4, 1,
                    (worker, from, to) -> parallel.forRange(4, 1, (w, f, t) -> { })))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("do not nest");
            int[] sum = new int[1];
            parallel.forRange(10, 10, (worker, from, to) -> sum[0] += to - from);
            assertThat(sum[0]).isEqualTo(10);
        }
    }

    @Test
    void moreThreadsThanCpusStillFinishEverySection() {
        int threads = 4 * Runtime.getRuntime().availableProcessors();
        try (Parallel parallel = new Parallel(threads)) {
            for (int section = 0; section < 200; section++) {
                AtomicIntegerArray hits = new AtomicIntegerArray(1000);
                parallel.forRangeGuided(1000, 1, (worker, from, to) -> {
                    for (int i = from; i < to; i++) {
                        hits.incrementAndGet(i);
                    }
                });
                for (int i = 0; i < 1000; i++) {
                    assertThat(hits.get(i)).isEqualTo(1);
                }
            }
        }
    }

    @Test
    void theDefaultIsAtLeastOneThreadAndNoMoreThanTheCpus() {
        assertThat(Parallel.defaultThreads()).isBetween(1, Runtime.getRuntime().availableProcessors());
    }
}
