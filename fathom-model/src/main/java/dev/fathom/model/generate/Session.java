package dev.fathom.model.generate;

import dev.fathom.model.arch.Batch;
import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.arch.DeepSeek2;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.arch.LanguageModel;
import dev.fathom.model.generate.Generation.Result;
import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.model.generate.Generation.Timings;
import dev.fathom.model.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.function.BooleanSupplier;
import java.util.function.Consumer;

/**
 * One conversation with a model: a KV cache and the tokens it holds. A new prompt that starts
 * with what the cache already holds (the previous turns of a chat) is only evaluated from where
 * it differs, so a multi-turn chat does not re-read its history. Replies with the same sampler
 * settings draw from one random stream, as in llama.cpp, so that one seed makes a whole
 * conversation reproducible and turns do not repeat each other's draws.
 */
public final class Session implements AutoCloseable {
    private final LanguageModel model;
    private final Tokenizer tokenizer;
    private final KvCache cache;
    private final Batch batch;
    private final float[] logits;
    private final int[] history;
    private int length;
    private Sampler sampler;
    // With multi-token prediction (else null): the model, and buffers for drafting.
    private final DeepSeek2 mtp;
    private final Batch draftBatch;
    private final float[] pairLogits;
    private final float[] draftLogits;
    private final float[] lastHidden;
    private final float[] promptHidden;
    private final float[] draftHidden;
    private final float[] fillHidden;
    /** An accepted draft (at the position before the next draft) not yet in the drafter's cache, or -1. */
    private int fillToken = -1;
    private int fillPosition;

    /**
     * @param contextLength the most tokens the session can hold, prompt and reply together
     * @param batchSize the most prompt tokens evaluated in one forward pass
     * @param cacheType the element type of the KV cache
     */
    public Session(LanguageModel model, Tokenizer tokenizer, int contextLength, int batchSize, KvCache.Type cacheType) {
        this(model, tokenizer, contextLength, batchSize, cacheType, false);
    }

    /**
     * As {@link #Session(LanguageModel, Tokenizer, int, int, KvCache.Type)}; with {@code drafts},
     * replies are generated with the model's multi-token-prediction layer drafting ahead (the
     * same replies, sooner when the drafts are good).
     *
     * @throws IllegalArgumentException if drafts are asked of a model without such a layer
     */
    public Session(LanguageModel model, Tokenizer tokenizer, int contextLength, int batchSize, KvCache.Type cacheType,
            boolean drafts) {
        if (drafts && !(model instanceof DeepSeek2 d && d.hasMtp())) {
            throw new IllegalArgumentException("this model has no multi-token-prediction layer to draft with"
                    + " (DeepSeek-V3 and R1 files keep one when converted with it)");
        }
        this.model = model;
        this.tokenizer = tokenizer;
        this.cache = model.newCache(cacheType, 1, contextLength);
        this.batch = new Batch(batchSize);
        this.logits = new float[model.vocabularySize()];
        this.history = new int[contextLength];
        this.mtp = drafts ? (DeepSeek2) model : null;
        int dim = drafts ? mtp.config().dim() : 0;
        this.draftBatch = drafts ? new Batch(batchSize) : null;
        this.pairLogits = drafts ? new float[2 * model.vocabularySize()] : null;
        this.draftLogits = drafts ? new float[model.vocabularySize()] : null;
        this.lastHidden = new float[dim];
        this.promptHidden = new float[batchSize * dim];
        this.draftHidden = new float[Math.max(2, batchSize) * dim];
        this.fillHidden = new float[dim];
    }

    public int contextLength() {
        return history.length;
    }

    /** Forgets the history: the next prompt is evaluated from its start. */
    public void reset() {
        length = 0;
    }

    /**
     * Evaluates {@code prompt} and generates a reply, streaming its text to {@code onText} as
     * it becomes final; stops at an end-of-generation token, a stop string, the token limit, a
     * full context or when {@code cancelled} says so.
     *
     * @throws ContextOverflowException if the prompt itself does not fit the context
     */
    public Result generate(int[] prompt, Generation generation, Consumer<String> onText, BooleanSupplier cancelled) {
        if (prompt.length == 0) {
            throw new IllegalArgumentException("the prompt is empty");
        }
        if (prompt.length >= history.length) {
            throw new ContextOverflowException(prompt.length + 1, history.length);
        }
        try {
            return run(prompt, generation, onText, cancelled);
        } catch (RuntimeException | Error e) {
            length = 0; // the cache may hold part of this call's work: trust none of it
            throw e;
        }
    }

    private Result run(int[] prompt, Generation generation, Consumer<String> onText, BooleanSupplier cancelled) {
        long start = System.nanoTime();
        // Reuse the cached prefix, but always evaluate the last prompt token: its logits start the reply.
        int cached = Math.min(commonPrefix(prompt), prompt.length - 1);
        System.arraycopy(prompt, cached, history, cached, prompt.length - cached);
        length = cached;
        evaluatePrompt(prompt.length);
        long promptDone = System.nanoTime();

        if (sampler == null || !sampler.settings().equals(generation.sampler())) {
            sampler = new Sampler(generation.sampler(), model.vocabularySize());
        }
        Turn turn = new Turn(generation, onText);
        if (mtp != null) {
            generateWithDrafts(turn, cancelled);
        } else {
            generate(turn, cancelled);
        }
        Reply reply = turn.reply;
        int[] tokens = reply.tokens();
        length = turn.evaluated; // a last token that was sampled but never evaluated is not in the cache
        long end = System.nanoTime();
        return new Result(prompt.clone(), tokens, reply.text(), reply.reason(), new Timings(prompt.length, cached,
                promptDone - start, tokens.length, end - promptDone, turn.drafted, turn.accepted));
    }

    /** Token by token: sample, then evaluate what was sampled. */
    private void generate(Turn turn, BooleanSupplier cancelled) {
        while (!turn.reply.ended()) {
            if (cancelled.getAsBoolean()) {
                turn.reply.end(StopReason.CANCELLED);
                break;
            }
            if (turn.push(sampler.sample(logits, 0, history, length))) {
                batch.clear().add(history[length - 1], length - 1, 0, true);
                model.forward(batch, cache, logits);
                turn.evaluated = length;
            }
        }
    }

    /**
     * With the model's multi-token-prediction layer drafting one token ahead: each sampled token
     * is evaluated together with the draft that follows it, and when the token sampled next
     * (from the main model's own logits, as always) is the draft, its logits are already there.
     * Every token is still sampled from the main model's logits, in order, with one draw each,
     * so the reply is the one generation without drafts gives.
     */
    private void generateWithDrafts(Turn turn, BooleanSupplier cancelled) {
        int dim = mtp.config().dim();
        float[] hidden = new float[2 * dim]; // the main model's final states of the pair just evaluated
        boolean pending = false; // a sampled token in the history, not evaluated yet
        while (!turn.reply.ended()) {
            if (!pending) {
                if (cancelled.getAsBoolean()) {
                    turn.reply.end(StopReason.CANCELLED);
                    break;
                }
                if (!turn.push(sampler.sample(logits, 0, history, length))) {
                    break;
                }
            }
            int position = length - 1;
            int token = history[position];
            int draft = -1;
            batch.clear().add(token, position, 0, true);
            if (position + 1 < history.length) {
                draft = draftAfter(token, position);
                batch.add(draft, position + 1, 0, true);
                turn.drafted++;
            }
            mtp.forward(batch, cache, pairLogits, hidden);
            System.arraycopy(hidden, 0, lastHidden, 0, dim);
            turn.evaluated = length;
            pending = false;
            if (cancelled.getAsBoolean()) {
                turn.reply.end(StopReason.CANCELLED);
                break;
            }
            int vocabulary = logits.length;
            int next = sampler.sample(pairLogits, 0, history, length);
            if (!turn.push(next)) {
                break;
            }
            if (next == draft) {
                // The draft's keys and values, logits and state were computed with it: keep them.
                turn.accepted++;
                turn.evaluated = length;
                // The drafter's cache needs this position too: it joins the next draft's pass.
                fillToken = next;
                fillPosition = position + 1;
                System.arraycopy(lastHidden, 0, fillHidden, 0, dim);
                System.arraycopy(pairLogits, vocabulary, logits, 0, vocabulary);
                System.arraycopy(hidden, dim, lastHidden, 0, dim);
            } else {
                pending = true; // sampled from the main model's logits, evaluated on the next turn of the loop
            }
        }
        if (fillToken >= 0 && fillPosition < turn.evaluated) {
            draftBatch.clear().add(fillToken, fillPosition, 0, false);
            mtp.draft(draftBatch, fillHidden, cache, draftLogits);
        }
        fillToken = -1;
    }

    /**
     * The drafter's guess for the token after {@code token} at {@code position}, given the main
     * model's state before it; an accepted draft's position still missing from the drafter's
     * cache ({@code fillToken}) goes through the same pass.
     */
    private int draftAfter(int token, int position) {
        int dim = mtp.config().dim();
        draftBatch.clear();
        if (fillToken >= 0) {
            draftBatch.add(fillToken, fillPosition, 0, false);
            System.arraycopy(fillHidden, 0, draftHidden, 0, dim);
            fillToken = -1;
        }
        System.arraycopy(lastHidden, 0, draftHidden, draftBatch.size() * dim, dim);
        draftBatch.add(token, position, 0, true);
        mtp.draft(draftBatch, draftHidden, cache, draftLogits);
        return Sampler.argmax(draftLogits, 0, draftLogits.length);
    }

    /** A reply in progress: its text and end, and how far its tokens are evaluated (in the cache). */
    private final class Turn {
        final Reply reply;
        int evaluated = length;
        int drafted;
        int accepted;

        Turn(Generation generation, Consumer<String> onText) {
            this.reply = new Reply(tokenizer, generation, onText);
        }

        /** Takes a sampled token into the reply and the history; returns whether generation goes on. */
        boolean push(int token) {
            if (!reply.push(token)) {
                if (reply.reason() != StopReason.END_OF_GENERATION) {
                    history[length++] = token;
                }
                return false;
            }
            history[length++] = token;
            return length < history.length || reply.end(StopReason.CONTEXT_FULL);
        }
    }

    private int commonPrefix(int[] prompt) {
        int n = 0;
        int max = Math.min(length, prompt.length);
        while (n < max && history[n] == prompt[n]) {
            n++;
        }
        return n;
    }

    /**
     * Evaluates history[length, end) in batches; leaves the logits of the last token. With
     * drafts, the drafter's layer of the cache gets every position too (position j from token j
     * and the main model's state at j − 1), and evaluation starts one token early when it
     * continues a cached history, to recover the state before it.
     */
    private void evaluatePrompt(int end) {
        if (mtp != null) {
            length = Math.max(0, length - 1);
        }
        boolean known = false; // whether lastHidden holds the main model's state at length - 1
        while (length < end) {
            int n = Math.min(batch.capacity(), end - length);
            batch.clear();
            for (int i = 0; i < n; i++) {
                int position = length + i;
                batch.add(history[position], position, 0, position == end - 1);
            }
            if (mtp == null) {
                model.forward(batch, cache, logits);
            } else {
                mtp.forward(batch, cache, logits, promptHidden);
                fillDrafterCache(n, known);
                known = true;
            }
            length += n;
        }
    }

    /** Runs the drafter over the batch just evaluated (from its second token unless the state before the first is known). */
    private void fillDrafterCache(int n, boolean known) {
        int dim = mtp.config().dim();
        draftBatch.clear();
        for (int i = known ? 0 : 1; i < n; i++) {
            float[] before = i == 0 ? lastHidden : promptHidden;
            System.arraycopy(before, i == 0 ? 0 : (i - 1) * dim, draftHidden, draftBatch.size() * dim, dim);
            draftBatch.add(history[length + i], length + i, 0, false);
        }
        if (draftBatch.size() > 0) {
            mtp.draft(draftBatch, draftHidden, cache, draftLogits);
        }
        System.arraycopy(promptHidden, (n - 1) * dim, lastHidden, 0, dim);
    }

    @Override
    public void close() {
        cache.close();
    }
}
