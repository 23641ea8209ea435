package dev.fathom.tensor;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads for the kernels: the caller and {@code threads - 1} workers split a
 * range of work items in chunks handed out from a shared counter.
 *
 * <p>A forward pass starts hundreds of parallel sections per token, microseconds apart, so
 * workers spin briefly between sections instead of sleeping; after a short idle spell they park,
 * so an idle model costs no CPU. Waiting threads spin only a few microseconds before they start
 * yielding their CPU: with more threads than free CPUs, pure spinning would keep a preempted
 * thread, whose chunk everyone waits for, off the CPU.
 *
 * <p>One section runs at a time, started by one thread: sections do not nest (worker numbers
 * index per-thread scratch, which a nested section would share), and a closed team runs none.
 * Both mistakes throw.
 */
public final class Parallel implements AutoCloseable {
    /** A slice of work: items [from, to) on behalf of thread {@code worker} (0 is the caller). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int worker, int from, int to);
    }

    /** How long an idle worker waits before it parks. */
    private static final long IDLE_NANOS = 5_000_000;
    /** How long a waiting thread spins before it yields its CPU on each look. */
    private static final long SPIN_NANOS = 20_000;

    private final int threads;
    private final Thread[] workers;
    private final AtomicInteger next = new AtomicInteger();
    private final AtomicInteger pending = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    /** Which workers are parked or about to park (index 0, the caller, never is); read after each section starts. */
    private final AtomicIntegerArray sleeping;
    private volatile Throwable failure;
    private final AtomicBoolean inSection = new AtomicBoolean();
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
        if (closed) {
            throw new IllegalStateException("the thread team is closed");
        }
        if (!inSection.compareAndSet(false, true)) {
            throw new IllegalStateException("a parallel section is already running: sections do not nest");
        }
        try {
            if (count <= 0) {
                return;
            }
            if (threads == 1 || count <= grain) {
                task.run(0, 0, count);
                return;
            }
            runShared(count, grain, guided, task);
        } finally {
            inSection.set(false);
        }
    }

    private void runShared(int count, int grain, boolean guided, RangeTask task) {
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
        long waitStart = System.nanoTime();
        while (pending.get() != 0) {
            pause(waitStart);
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
            long idleStart = System.nanoTime();
            while (generation == seen && !closed) {
                if (System.nanoTime() - idleStart < IDLE_NANOS) {
                    pause(idleStart);
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

    /** One look's wait in a loop that started waiting at {@code since}. */
    private static void pause(long since) {
        if (System.nanoTime() - since < SPIN_NANOS) {
            Thread.onSpinWait();
        } else {
            Thread.yield();
        }
    }

    /**
     * The threads to compute with by default: one per physical core that this process may use.
     * A second hardware thread on a core shares its vector units and memory bandwidth, so it adds
     * nothing to these kernels but another thread to wait for.
     */
    public static int defaultThreads() {
        int available = Runtime.getRuntime().availableProcessors();
        return Math.min(available, physicalCores().orElse(available));
    }

    /** Distinct cores among the online CPUs, from Linux's sysfs; empty elsewhere. */
    private static OptionalInt physicalCores() {
        Path cpus = Path.of("/sys/devices/system/cpu");
        Set<String> cores = new HashSet<>();
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(cpus, "cpu[0-9]*")) {
            for (Path cpu : dirs) {
                Path siblings = cpu.resolve("topology/thread_siblings_list");
                if (Files.isReadable(siblings)) {
                    cores.add(Files.readString(siblings).strip());
                }
            }
        } catch (IOException | RuntimeException e) {
            return OptionalInt.empty();
        }
        return cores.isEmpty() ? OptionalInt.empty() : OptionalInt.of(cores.size());
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
