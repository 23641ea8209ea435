package dev.fathom.serve;

import dev.fathom.model.arch.Batch;
import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.arch.LanguageModel;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.model.generate.JsonConstraint;
import dev.fathom.model.generate.JsonGrammar;
import dev.fathom.model.generate.Reply;
import dev.fathom.model.generate.Sampler;
import dev.fathom.model.generate.TokenLogprobs;
import dev.fathom.model.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching: up to {@code slots} replies are generated together, one forward pass
 * per step over all of them. Each step carries one token for every slot that is generating and
 * fills the rest of the batch with the prompts of slots still reading theirs, in chunks, so
 * that a long new prompt never stalls the replies already streaming. Requests join between
 * steps and leave when they end or are cancelled; beyond the slots they wait in a bounded queue.
 *
 * <p>A slot keeps the tokens it last held in the KV cache. A new request goes to the free slot
 * whose tokens share the longest prefix with its prompt (a system prompt, the earlier turns of
 * a conversation), and a {@link PrefixCache} restores longer prefixes that slots have since
 * moved on from; only the rest of the prompt is evaluated: the reply's
 * {@link Outcome#cachedTokens()} counts what was reused.
 *
 * <p>One engine thread runs the model; listeners are called on it and must hand the events on
 * rather than block.
 */
public final class Scheduler implements AutoCloseable {
    /** What a request hears of its reply. Called on the engine thread. */
    public interface Listener {
        /** Text of the reply as it becomes final. */
        void onText(String piece);

        /** The log-probabilities of a sampled token, before its text (for requests that ask for them). */
        default void onToken(TokenLogprobs logprobs) {
        }

        /** The reply has ended. */
        void onDone(Outcome outcome);

        /** The reply failed; the slot is free again. */
        void onError(RuntimeException error);
    }

    /** How a reply ended, and its token counts. */
    public record Outcome(StopReason stopReason, int promptTokens, int cachedTokens, int[] tokens, String text,
            long queuedNanos, long promptNanos, long generationNanos) {
    }

    /** A request that cannot wait: the queue is full. */
    public static final class QueueFullException extends RuntimeException {
        QueueFullException(int limit) {
            super("every slot is busy and " + limit + " requests are already waiting; try again later");
        }
    }

    /** What shape a reply must take. */
    public enum Format {
        /** Free text. */
        TEXT,
        /** One JSON object, enforced token by token. */
        JSON,
        /** Free reasoning up to {@code </think>}, then one JSON object. */
        JSON_AFTER_REASONING
    }

    /**
     * How a reply is generated beyond its sampling: its shape (in JSON formats, the grammar of the
     * document in its first state, copied for each reply; null: any object), how many of the most
     * likely tokens' log-probabilities to report at each step (-1: none, 0: the chosen token's
     * only), and whether control tokens are spelt out in its text (for the markers of function calls).
     */
    public record Options(Format format, JsonGrammar document, int topLogprobs, boolean controlText) {
    }

    /** A submitted request; {@link #cancel()} ends it at the next step and frees its slot. */
    public static final class Job {
        private final int[] prompt;
        private final Generation generation;
        private final Options options;
        private final Listener listener;
        private final long submitted = System.nanoTime();
        private volatile boolean cancelled;

        private Job(int[] prompt, Generation generation, Options options, Listener listener) {
            this.prompt = prompt;
            this.generation = generation;
            this.options = options;
            this.listener = listener;
        }

        public void cancel() {
            cancelled = true;
        }
    }

    /** One sequence of the KV cache, and the reply it is generating. */
    private final class Slot {
        final int index;
        final int[] tokens = new int[contextLength]; // what the cache holds for this slot, then the pending token
        int length; // tokens whose keys and values are in the cache
        int chunkEnd; // where the prompt chunk of the current step ends
        Job job;
        Reply reply;
        Sampler sampler;
        JsonGrammar json; // the document so far, in JSON mode
        boolean reasoning; // in JSON mode, still before </think>
        int cached;
        boolean pending; // tokens[length] is sampled and waits to be evaluated
        long started;
        long promptDone;

        Slot(int index) {
            this.index = index;
        }

        boolean prefilling() {
            return job != null && length < job.prompt.length;
        }
    }

    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private final int contextLength;
    private final int queueLimit;
    private final KvCache cache;
    private final PrefixCache prefixes;
    private final Batch batch;
    private final float[] logits;
    private final float[] rowCopy;
    private final List<Slot> slots = new ArrayList<>();
    private final ArrayDeque<Job> queue = new ArrayDeque<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final int thinkEnd;
    private JsonConstraint jsonConstraint; // made for the first request in JSON mode; engine thread only
    private final Condition work = lock.newCondition();
    private final Thread engine;
    private volatile boolean closed;

    /**
     * @param slots replies generated at once
     * @param contextLength tokens per slot, prompt and reply together
     * @param batchSize the most tokens in one forward pass
     * @param queueLimit requests that may wait for a slot
     * @param prefixCacheBytes memory for keys and values of earlier prompts beyond the slots (0: none)
     * @param spillTo where the prefix cache makes its directory for blocks that leave memory (null: none)
     * @param spillBytes bytes of such blocks kept on disk at most
     */
    public Scheduler(LanguageModel model, Tokenizer tokenizer, KvCache.Type cacheType, int slots, int contextLength,
            int batchSize, int queueLimit, long prefixCacheBytes, Path spillTo, long spillBytes) {
        if (batchSize < slots) {
            throw new IllegalArgumentException("a batch of " + batchSize + " tokens cannot carry " + slots + " slots");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.contextLength = contextLength;
        this.queueLimit = queueLimit;
        this.cache = model.newCache(cacheType, slots, contextLength);
        this.prefixes = new PrefixCache(cache, prefixCacheBytes, spillTo, spillBytes);
        this.batch = new Batch(batchSize);
        this.logits = new float[slots * model.vocabularySize()];
        this.rowCopy = new float[model.vocabularySize()];
        this.thinkEnd = tokenizer.id("</think>");
        for (int i = 0; i < slots; i++) {
            this.slots.add(new Slot(i));
        }
        this.engine = Thread.ofPlatform().name("fathom-engine").daemon().start(this::run);
    }

    public int slots() {
        return slots.size();
    }

    public int contextLength() {
        return contextLength;
    }

    /** The most replies the scheduler holds at once: one per slot, and those that may wait for one. */
    public int capacity() {
        return slots.size() + queueLimit;
    }

    /**
     * Queues a prompt for a reply.
     *
     * @throws ContextOverflowException if the prompt leaves no room for a reply
     * @throws QueueFullException if too many requests are waiting
     */
    public Job submit(int[] prompt, Generation generation, Options options, Listener listener) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if (prompt.length >= contextLength) {
            throw new ContextOverflowException(prompt.length + 1, contextLength);
        }
        Job job = new Job(prompt.clone(), generation, options, listener);
        lock.lock();
        try {
            if (closed) {
                throw new IllegalStateException("the scheduler is closed");
            }
            long busy = slots.stream().filter(s -> s.job != null).count();
            if (queue.size() + busy >= slots.size() + queueLimit) {
                throw new QueueFullException(queueLimit);
            }
            queue.add(job);
            work.signal();
        } finally {
            lock.unlock();
        }
        return job;
    }

    /** Requests waiting for a slot. */
    public int waiting() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /** The share of the cache's positions (all slots) that hold tokens, for reuse or in use. */
    public double cacheUsage() {
        lock.lock();
        try {
            return slots.stream().mapToLong(s -> s.length).sum() / (double) (slots.size() * (long) contextLength);
        } finally {
            lock.unlock();
        }
    }

    /** Slots generating or reading a prompt. */
    public int busy() {
        lock.lock();
        try {
            return (int) slots.stream().filter(s -> s.job != null).count();
        } finally {
            lock.unlock();
        }
    }

    private void run() {
        while (!closed) {
            try {
                if (!admit()) {
                    continue;
                }
                step();
            } catch (RuntimeException | Error e) {
                failAll(e instanceof RuntimeException r ? r : new IllegalStateException(e));
            }
        }
        failAll(new IllegalStateException("the server is shutting down"));
    }

    /** Moves queued jobs into free slots; waits while there is nothing to do. Returns whether a step is due. */
    private boolean admit() {
        lock.lock();
        try {
            while (!closed && queue.isEmpty() && slots.stream().allMatch(s -> s.job == null)) {
                work.awaitUninterruptibly();
            }
            while (!queue.isEmpty()) {
                Job job = queue.peek();
                Slot slot = bestFreeSlot(job.prompt);
                if (slot == null) {
                    break;
                }
                queue.poll();
                start(slot, job);
            }
            return !closed;
        } finally {
            lock.unlock();
        }
    }

    /** The free slot holding the longest prefix of {@code prompt}, or null if none is free. */
    private Slot bestFreeSlot(int[] prompt) {
        Slot best = null;
        int bestShared = -1;
        for (Slot s : slots) {
            if (s.job == null) {
                int shared = commonPrefix(s, prompt);
                if (shared > bestShared) {
                    best = s;
                    bestShared = shared;
                }
            }
        }
        return best;
    }

    private static int commonPrefix(Slot s, int[] prompt) {
        int n = 0;
        int max = Math.min(s.length, prompt.length);
        while (n < max && s.tokens[n] == prompt[n]) {
            n++;
        }
        return n;
    }

    private void start(Slot slot, Job job) {
        // Reuse the prefix the slot holds, or longer kept blocks of it, but always evaluate the
        // prompt's last token: its logits start the reply.
        int limit = job.prompt.length - 1;
        int cached = prefixes.restore(slot.index, job.prompt, Math.min(commonPrefix(slot, job.prompt), limit), limit);
        System.arraycopy(job.prompt, 0, slot.tokens, 0, job.prompt.length);
        slot.length = cached;
        slot.cached = cached;
        slot.job = job;
        slot.pending = false;
        slot.reply = new Reply(tokenizer, job.generation, job.listener::onText, job.options.controlText());
        slot.sampler = new Sampler(job.generation.sampler(), model.vocabularySize());
        slot.json = job.options.format() == Format.TEXT ? null : JsonGrammar.object();
        if (slot.json != null && job.options.document() != null) {
            slot.json.copyFrom(job.options.document());
        }
        slot.reasoning = job.options.format() == Format.JSON_AFTER_REASONING;
        if (slot.json != null && jsonConstraint == null) {
            jsonConstraint = new JsonConstraint(tokenizer);
        }
        slot.started = System.nanoTime();
        slot.promptDone = 0;
    }

    /** One forward pass: a token for every generating slot, then prompt chunks to fill the batch. */
    private void step() {
        batch.clear();
        List<Slot> sampled = new ArrayList<>();
        for (Slot s : slots) {
            if (s.job != null && s.job.cancelled) {
                s.reply.end(StopReason.CANCELLED);
                finish(s);
            } else if (s.job != null && s.pending) {
                batch.add(s.tokens[s.length], s.length, s.index, true);
                sampled.add(s);
            }
        }
        List<Slot> prefilled = new ArrayList<>();
        for (Slot s : slots) {
            if (s.prefilling() && batch.size() < batch.capacity()) {
                int end = Math.min(s.job.prompt.length, s.length + batch.capacity() - batch.size());
                for (int p = s.length; p < end; p++) {
                    batch.add(s.tokens[p], p, s.index, p == s.job.prompt.length - 1);
                }
                s.chunkEnd = end;
                prefilled.add(s);
            }
        }
        if (batch.size() == 0) {
            return;
        }
        model.forward(batch, cache, logits);
        int row = 0;
        // Logit rows come in batch order: the generating slots first, then the prompts that ended.
        for (Slot s : sampled) {
            s.length++;
            s.pending = false;
            sample(s, row++);
        }
        for (Slot s : prefilled) {
            s.length = s.chunkEnd;
            if (s.length == s.job.prompt.length) {
                s.promptDone = System.nanoTime();
                sample(s, row++);
            }
        }
    }

    private void sample(Slot s, int row) {
        int vocabulary = model.vocabularySize();
        boolean constrained = s.json != null && !s.reasoning;
        if (constrained) {
            int left = contextLength - 1 - s.length;
            if (s.job.generation.maxTokens() >= 0) {
                left = Math.min(left, s.job.generation.maxTokens() - s.reply.size());
            }
            jsonConstraint.mask(logits, row * vocabulary, s.json, left);
        }
        int topLogprobs = s.job.options.topLogprobs();
        if (topLogprobs >= 0) {
            System.arraycopy(logits, row * vocabulary, rowCopy, 0, vocabulary); // the sampler changes the row
        }
        int token = s.sampler.sample(logits, row * vocabulary, s.tokens, s.length);
        if (topLogprobs >= 0) {
            s.job.listener.onToken(TokenLogprobs.of(rowCopy, 0, vocabulary, token, topLogprobs));
        }
        if (constrained && !jsonConstraint.advance(s.json, token)) {
            throw new IllegalStateException("JSON mode sampled token " + token + ", which the mask had ruled out");
        }
        if (s.reasoning && token == thinkEnd) {
            s.reasoning = false;
        }
        if (s.reply.push(token)) {
            if (constrained && s.json.finished()) {
                s.reply.end(StopReason.END_OF_GENERATION); // the document is whole: nothing but blank space could follow
            } else if (s.length + 1 >= contextLength) {
                s.reply.end(StopReason.CONTEXT_FULL);
            } else {
                s.tokens[s.length] = token;
                s.pending = true;
                return;
            }
        }
        finish(s);
    }

    /**
     * Reports the slot's reply and frees the slot; its tokens stay for the next prompt that
     * shares them, and their whole blocks go to the prefix cache.
     */
    private void finish(Slot s) {
        prefixes.store(s.index, s.tokens, s.length);
        Job job = s.job;
        Reply reply = s.reply;
        long end = System.nanoTime();
        long promptDone = s.promptDone == 0 ? end : s.promptDone;
        Outcome outcome = new Outcome(reply.reason(), job.prompt.length, s.cached, reply.tokens(), reply.text(),
                s.started - job.submitted, promptDone - s.started, end - promptDone);
        lock.lock();
        try {
            s.job = null;
            s.reply = null;
            s.sampler = null;
            s.json = null;
            s.pending = false;
        } finally {
            lock.unlock();
        }
        job.listener.onDone(outcome);
    }

    private void failAll(RuntimeException error) {
        List<Job> failed = new ArrayList<>();
        lock.lock();
        try {
            for (Slot s : slots) {
                if (s.job != null) {
                    failed.add(s.job);
                    s.job = null;
                    s.reply = null;
                    s.length = 0; // the cache may hold part of a failed pass: trust none of it
                }
            }
            if (closed) {
                failed.addAll(queue);
                queue.clear();
            }
        } finally {
            lock.unlock();
        }
        for (Job job : failed) {
            job.listener.onError(error);
        }
    }

    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
        try {
            engine.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        prefixes.close();
        cache.close();
    }
}
