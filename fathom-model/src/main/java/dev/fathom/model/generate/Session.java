package dev.fathom.model.generate;

import dev.fathom.model.arch.Batch;
import dev.fathom.model.arch.ContextOverflowException;
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

    /**
     * @param contextLength the most tokens the session can hold, prompt and reply together
     * @param batchSize the most prompt tokens evaluated in one forward pass
     * @param cacheType the element type of the KV cache
     */
    public Session(LanguageModel model, Tokenizer tokenizer, int contextLength, int batchSize, KvCache.Type cacheType) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.cache = model.newCache(cacheType, 1, contextLength);
        this.batch = new Batch(batchSize);
        this.logits = new float[model.vocabularySize()];
        this.history = new int[contextLength];
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
        TextStream stream = new TextStream();
        StopStrings stops = new StopStrings(generation.stopStrings());
        StringBuilder text = new StringBuilder();
        int firstGenerated = length;
        StopReason reason = generation.maxTokens() == 0 ? StopReason.MAX_TOKENS : null;
        while (reason == null) {
            if (cancelled.getAsBoolean()) {
                reason = StopReason.CANCELLED;
                break;
            }
            int token = sampler.sample(logits, 0, history, length);
            if (tokenizer.isEndOfGeneration(token)) {
                reason = StopReason.END_OF_GENERATION;
                break;
            }
            history[length] = token;
            String piece = stops.push(stream.push(tokenizer.bytes(token, false)));
            emit(piece, text, onText);
            length++; // the token is in the history; its keys and values enter the cache below
            if (stops.stopped()) {
                reason = StopReason.STOP_STRING;
            } else if (generation.maxTokens() >= 0 && length - firstGenerated >= generation.maxTokens()) {
                reason = StopReason.MAX_TOKENS;
            } else if (length >= history.length) {
                reason = StopReason.CONTEXT_FULL;
            } else {
                batch.clear().add(token, length - 1, 0, true);
                model.forward(batch, cache, logits);
            }
        }
        if (reason != StopReason.STOP_STRING) {
            emit(stops.push(stream.flush()), text, onText);
            emit(stops.flush(), text, onText);
        }
        int[] tokens = Arrays.copyOfRange(history, firstGenerated, length);
        // The last token of a reply cut short was sampled but never evaluated: it is not in the cache.
        if (reason == StopReason.STOP_STRING || (reason == StopReason.MAX_TOKENS && tokens.length > 0)
                || reason == StopReason.CONTEXT_FULL) {
            length--;
        }
        long end = System.nanoTime();
        return new Result(prompt.clone(), tokens, text.toString(), reason,
                new Timings(prompt.length, cached, promptDone - start, tokens.length, end - promptDone));
    }

    private static void emit(String piece, StringBuilder text, Consumer<String> onText) {
        if (!piece.isEmpty()) {
            text.append(piece);
            onText.accept(piece);
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

    /** Evaluates history[length, end) in batches; leaves the logits of the last token. */
    private void evaluatePrompt(int end) {
        while (length < end) {
            int n = Math.min(batch.capacity(), end - length);
            batch.clear();
            for (int i = 0; i < n; i++) {
                int position = length + i;
                batch.add(history[position], position, 0, position == end - 1);
            }
            model.forward(batch, cache, logits);
            length += n;
        }
    }

    @Override
    public void close() {
        cache.close();
    }
}
