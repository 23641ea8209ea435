package dev.fathom.model.generate;

import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.model.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The growing reply of one generation: the tokens sampled so far, their text (UTF-8 characters
 * never split, stop strings held back until they are ruled out), and the reason it ended. Both
 * a {@link Session} and a server's batch of many replies feed it one sampled token at a time.
 */
public final class Reply {
    private final Tokenizer tokenizer;
    private final TextStream stream = new TextStream();
    private final StopStrings stops;
    private final StringBuilder text = new StringBuilder();
    private final Consumer<String> onText;
    private final int maxTokens;
    private final boolean controlText;
    private int[] tokens = new int[16];
    private int count;
    private StopReason reason;

    /** A reply generated as {@code generation} says, its text passed to {@code onText} as it becomes final. */
    public Reply(Tokenizer tokenizer, Generation generation, Consumer<String> onText) {
        this(tokenizer, generation, onText, false);
    }

    /**
     * A reply whose text also spells out the control tokens it samples when {@code controlText}
     * (a function call's markers are control tokens in DeepSeek's vocabularies); else they add no text.
     */
    public Reply(Tokenizer tokenizer, Generation generation, Consumer<String> onText, boolean controlText) {
        this.tokenizer = tokenizer;
        this.controlText = controlText;
        this.stops = new StopStrings(generation.stopStrings());
        this.onText = onText;
        this.maxTokens = generation.maxTokens();
        this.reason = maxTokens == 0 ? StopReason.MAX_TOKENS : null;
    }

    /**
     * Takes a sampled token into the reply; returns whether generation goes on (and the token
     * must be evaluated), else the reply has ended and {@link #reason()} says why. An
     * end-of-generation token ends it without becoming part of it.
     */
    public boolean push(int token) {
        if (reason != null) {
            throw new IllegalStateException("the reply has ended: " + reason);
        }
        if (tokenizer.isEndOfGeneration(token)) {
            return end(StopReason.END_OF_GENERATION);
        }
        if (count == tokens.length) {
            tokens = Arrays.copyOf(tokens, 2 * count);
        }
        tokens[count++] = token;
        emit(stops.push(stream.push(tokenizer.bytes(token, controlText))));
        if (stops.stopped()) {
            return end(StopReason.STOP_STRING);
        }
        if (maxTokens >= 0 && count >= maxTokens) {
            return end(StopReason.MAX_TOKENS);
        }
        return true;
    }

    /**
     * Ends the reply for {@code why} (a full context, a cancellation), unless it has ended
     * already, and passes on the text held back (unless a stop string ended it). Returns false.
     */
    public boolean end(StopReason why) {
        if (reason == null) {
            reason = why;
            if (why != StopReason.STOP_STRING) {
                emit(stops.push(stream.flush()));
                emit(stops.flush());
            }
        }
        return false;
    }

    private void emit(String piece) {
        if (!piece.isEmpty()) {
            text.append(piece);
            onText.accept(piece);
        }
    }

    /** Whether the reply has ended. */
    public boolean ended() {
        return reason != null;
    }

    /** Why the reply ended; null while it goes on. */
    public StopReason reason() {
        return reason;
    }

    /** The tokens of the reply so far. */
    public int[] tokens() {
        return Arrays.copyOf(tokens, count);
    }

    /** How many tokens the reply has. */
    public int size() {
        return count;
    }

    /** The text passed on so far. */
    public String text() {
        return text.toString();
    }
}
