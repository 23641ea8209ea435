package dev.fathom.model.arch;

/**
 * The tokens of one forward pass: for each, the sequence (KV-cache slot) it belongs to, its
 * position in that sequence, and whether its logits are wanted. Prefill, decode, chunked prefill
 * and continuous batching are all batches; only their shapes differ.
 */
public final class Batch {
    private final int[] tokens;
    private final int[] positions;
    private final int[] sequences;
    private final boolean[] wantLogits;
    private int size;

    public Batch(int capacity) {
        tokens = new int[capacity];
        positions = new int[capacity];
        sequences = new int[capacity];
        wantLogits = new boolean[capacity];
    }

    public Batch clear() {
        size = 0;
        return this;
    }

    /** Appends a token; returns this batch. */
    public Batch add(int token, int position, int sequence, boolean logits) {
        if (size == tokens.length) {
            throw new IllegalStateException("batch is full (" + tokens.length + " tokens)");
        }
        tokens[size] = token;
        positions[size] = position;
        sequences[size] = sequence;
        wantLogits[size] = logits;
        size++;
        return this;
    }

    public int size() {
        return size;
    }

    public int capacity() {
        return tokens.length;
    }

    public int token(int i) {
        return tokens[i];
    }

    public int position(int i) {
        return positions[i];
    }

    public int sequence(int i) {
        return sequences[i];
    }

    public boolean wantsLogits(int i) {
        return wantLogits[i];
    }
}
