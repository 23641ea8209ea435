package dev.fathom.model.arch;

/**
 * A decoder-only language model: token ids in, next-token logits out. One forward pass serves
 * every case ({@link Batch}); the KV cache holds the sequences' history between passes.
 *
 * <p>A model is not thread-safe: one forward pass at a time (scratch buffers are reused).
 */
public interface LanguageModel {
    /** The GGUF architecture name, e.g. {@code qwen2}. */
    String architecture();

    int vocabularySize();

    /** The context length the model was trained with. */
    int trainedContextLength();

    /** A cache of {@code type} for {@code slots} sequences of up to {@code contextLength} tokens each. */
    KvCache newCache(KvCache.Type type, int slots, int contextLength);

    /**
     * Runs one forward pass: stores the batch's keys and values in {@code cache} and writes the
     * logits of every token that wants them into {@code logits}, one row of
     * {@link #vocabularySize()} per such token, in batch order.
     */
    void forward(Batch batch, KvCache cache, float[] logits);

    /** Bytes of weights read to decode one token: what bounds generation speed. */
    long weightBytesPerToken();

    /** A one-line description: architecture, size, shapes. */
    String describe();
}
