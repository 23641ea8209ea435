package dev.fathom.model.arch;

/** A sequence would grow past the context size. */
public final class ContextOverflowException extends RuntimeException {
    private final int needed;
    private final int contextLength;

    public ContextOverflowException(int needed, int contextLength) {
        super("the sequence needs " + needed + " positions but the context holds " + contextLength
                + " (raise --ctx, or shorten the prompt)");
        this.needed = needed;
        this.contextLength = contextLength;
    }

    public int needed() {
        return needed;
    }

    public int contextLength() {
        return contextLength;
    }
}
