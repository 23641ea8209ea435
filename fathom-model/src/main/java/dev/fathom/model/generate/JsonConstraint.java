package dev.fathom.model.generate;

import dev.fathom.model.tokenizer.Tokenizer;

/**
 * JSON mode: before each sampling step, the logits of every token that would break the JSON
 * document (or leave its schema) are set to minus infinity, so that whatever the sampler picks,
 * the reply parses.
 * An end-of-generation token is allowed only once the document is complete. No token may open
 * more than the tokens left after it (to the reply's limit or the context's end) can close, so
 * a reply cut by its limit still parses. Control tokens are never part of a document, but may be
 * part of the text that {@linkplain JsonGrammar#led leads} to it (a function call's separator).
 *
 * <p>Not thread-safe: one per engine thread.
 */
public final class JsonConstraint {
    private final Tokenizer tokenizer;
    private final byte[][] bytes;
    /** The text tokens by their first byte: a byte the document cannot take next rules out all its tokens at once. */
    private final int[][] byFirstByte = new int[256][];
    private final JsonGrammar scratch = new JsonGrammar();
    private final boolean[] allowed;
    /** Tokens of plain string text (no quote, backslash or control byte): inside a string they change nothing. */
    private final boolean[] plain;
    /** The control tokens that do not end generation, and their text (null for every other token). */
    private final int[] controls;
    private final byte[][] controlText;

    public JsonConstraint(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
        this.bytes = new byte[tokenizer.vocabularySize()][];
        this.allowed = new boolean[bytes.length];
        this.plain = new boolean[bytes.length];
        this.controlText = new byte[bytes.length][];
        int[] counts = new int[256];
        java.util.List<Integer> controls = new java.util.ArrayList<>();
        for (int id = 0; id < bytes.length; id++) {
            // Control tokens are not text: they never belong to the document.
            boolean text = tokenizer.type(id) == Tokenizer.NORMAL || tokenizer.type(id) == Tokenizer.BYTE;
            bytes[id] = text ? tokenizer.bytes(id, false) : new byte[0];
            if (tokenizer.type(id) == Tokenizer.CONTROL && !tokenizer.isEndOfGeneration(id)) {
                controlText[id] = tokenizer.bytes(id, true);
                controls.add(id);
            }
            if (bytes[id].length > 0) {
                counts[bytes[id][0] & 0xFF]++;
                plain[id] = isPlain(bytes[id]);
            }
        }
        this.controls = controls.stream().mapToInt(Integer::intValue).toArray();
        for (int b = 0; b < 256; b++) {
            byFirstByte[b] = new int[counts[b]];
            counts[b] = 0;
        }
        for (int id = 0; id < bytes.length; id++) {
            if (bytes[id].length > 0) {
                int b = bytes[id][0] & 0xFF;
                byFirstByte[b][counts[b]++] = id;
            }
        }
    }

    /**
     * Masks {@code logits[offset, offset + vocabulary)} for the document read so far by
     * {@code state}, with {@code tokensLeft} tokens left to generate (negative: no limit).
     */
    public void mask(float[] logits, int offset, JsonGrammar state, int tokensLeft) {
        boolean complete = state.complete();
        int need = state.bytesToComplete();
        // A token may leave at most as many bytes to close as tokens will be left after it: the
        // closers are single-byte tokens, so the document can always be finished in time.
        int room = tokensLeft < 0 ? Integer.MAX_VALUE : tokensLeft - 1;
        boolean done = state.finished();
        boolean inString = state.inString();
        boolean[] allowed = this.allowed;
        java.util.Arrays.fill(allowed, false);
        for (int b = 0; b < 256 && !done; b++) {
            scratch.copyFrom(state);
            if (byFirstByte[b].length == 0 || !scratch.accept((byte) b)) {
                continue;
            }
            for (int id : byFirstByte[b]) {
                if (inString && plain[id]) {
                    allowed[id] = need <= room; // the string goes on, no closer to its end
                    continue;
                }
                scratch.copyFrom(state);
                allowed[id] = scratch.accept(bytes[id], 0, bytes[id].length) && scratch.bytesToComplete() <= room;
            }
        }
        for (int i = 0; i < controls.length && state.inLead(); i++) {
            int id = controls[i];
            scratch.copyFrom(state);
            allowed[id] = scratch.accept(controlText[id], 0, controlText[id].length) && scratch.bytesToComplete() <= room;
        }
        if (!done && !anyAllowed()) {
            // No token keeps the document closable in the tokens left (a limit below what the schema
            // needs): go on by the grammar alone; only the limit can then cut the document.
            mask(logits, offset, state, -1);
            return;
        }
        for (int id = 0; id < bytes.length; id++) {
            if (tokenizer.isEndOfGeneration(id)) {
                allowed[id] = complete;
            }
            if (!allowed[id]) {
                logits[offset + id] = Float.NEGATIVE_INFINITY;
            }
        }
    }

    private boolean anyAllowed() {
        for (boolean a : allowed) {
            if (a) {
                return true;
            }
        }
        return false;
    }

    private static boolean isPlain(byte[] token) {
        for (byte b : token) {
            int c = b & 0xFF;
            if (c < 0x20 || c == '"' || c == '\\') {
                return false;
            }
        }
        return true;
    }

    /** Feeds the sampled {@code token} to {@code state}; returns false if it broke the document (it never should). */
    public boolean advance(JsonGrammar state, int token) {
        if (controlText[token] != null) {
            return state.inLead() && state.accept(controlText[token], 0, controlText[token].length);
        }
        return tokenizer.isEndOfGeneration(token) || state.accept(bytes[token], 0, bytes[token].length);
    }
}
