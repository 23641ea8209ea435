package dev.fathom.tensor;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads for the kernels: the caller and {@code threads - 1} workers split a
 * range of work items in chunks handed out from a shared counter.
 *
 * <p>A forward pass starts hundreds of parallel sections per token, microseconds apart, so
 * workers spin briefly between sections instead of sleeping; after a short idle spell they park,
 * so an idle model costs no CPU.
 */
public final class Parallel implements AutoCloseable {
    /** A slice of work: items [from, to) on behalf of thread {@code worker} (0 is the caller). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int worker, int from, int to);
    }

    private static final long SPIN_NANOS = 5_000_000;

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicInteger pending = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    /** Which workers are parked or about to park (index 0, the caller, never is); read after each section starts. */
    private final AtomicIntegerArray sleeping;
    private volatile Throwable failure;
    private RangeTask task;
    private int count;
    private int grain;
    private boolean guided;

    public Parallel(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1, got " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        this.sleeping = new AtomicIntegerArray(threads);
        for (int i = 0; i < workers.length; i++) {
            int worker = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("fathom-worker-" + worker).start(() -> workLoop(worker));
        }
    }

    /** Threads in the team, the caller included. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code task} over items [0, count) in chunks of {@code grain} items, on all threads,
     * and returns when every item is done. Not reentrant: one section at a time.
     */
    public void forRange(int count, int grain, RangeTask task) {
        run(count, grain, false, task);
    }

    /**
     * Like {@link #forRange}, with chunks that shrink as the work runs out: each is a share of
     * what is left (never less than {@code minChunk}). Threads start on long contiguous stretches,
     * which memory prefetchers stream best, and even out with short ones at the end.
     */
    public void forRangeGuided(int count, int minChunk, RangeTask task) {
        run(count, minChunk, true, task);
    }

    private void run(int count, int grain, boolean guided, RangeTask task) {
        if (count <= 0) {
            return;
        }
        if (threads == 1 || count <= grain) {
            task.run(0, 0, count);
            return;
        }
        this.task = task;
        this.count = count;
        this.grain = Math.max(1, grain);
        this.guided = guided;
        next.set(0);
        pending.set(workers.length);
        generation++; // publishes the fields above to the workers
        for (int i = 0; i < workers.length; i++) {
            if (sleeping.get(i + 1) != 0) {
                LockSupport.unpark(workers[i]);
            }
        }
        Throwable thrown = null;
        try {
            work(0);
        } catch (Throwable e) {
            thrown = e;
            next.set(Integer.MAX_VALUE / 2);
        }
        while (pending.get() != 0) {
            Thread.onSpinWait();
        }
        this.task = null;
        if (thrown == null) {
            thrown = failure;
        }
        failure = null;
        if (thrown instanceof RuntimeException e) {
            throw e;
        } else if (thrown instanceof Error e) {
            throw e;
        } else if (thrown != null) {
            throw new IllegalStateException("worker failed", thrown);
        }
    }

    private void work(int worker) {
        RangeTask t = task;
        int n = count;
        int g = grain;
        if (!guided) {
            for (int from = next.getAndAdd(g); from < n; from = next.getAndAdd(g)) {
                t.run(worker, from, Math.min(n, from + g));
            }
            return;
        }
        while (true) {
            int from = next.get();
            if (from >= n) {
                return;
            }
            int to = Math.min(n, from + Math.max(g, (n - from) * 2 / (3 * threads)));
            if (next.compareAndSet(from, to)) {
                t.run(worker, from, to);
            }
        }
    }

    private void workLoop(int worker) {
        long seen = 0;
        while (true) {
            long spinStart = System.nanoTime();
            while (generation == seen && !closed) {
                if (System.nanoTime() - spinStart < SPIN_NANOS) {
                    Thread.onSpinWait();
                } else {
                    // Announce the nap, then look once more: a section started in between is not missed.
                    sleeping.set(worker, 1);
                    if (generation == seen && !closed) {
                        LockSupport.park(this);
                    }
                    sleeping.set(worker, 0);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            try {
                work(worker);
            } catch (Throwable e) {
                if (failure == null) {
                    failure = e;
                }
                next.set(Integer.MAX_VALUE / 2);
            }
            pending.decrementAndGet();
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
