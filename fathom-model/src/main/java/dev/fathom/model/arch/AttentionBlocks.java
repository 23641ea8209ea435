package dev.fathom.model.arch;

/**
 * How a batch's tokens attend, and the buffers for it. A run of at least {@link #MIN_RUN}
 * consecutive tokens of one sequence (a prompt, or a chunk of one) attends in blocks: a few of
 * its tokens' queries at a time against {@link #KEY_BLOCK} cached rows at a time, each row
 * widened once for all of them, scores and outputs from tiled float products. Other tokens (a
 * reply's next token, one per sequence) attend one at a time, which reads each row once anyway.
 *
 * <p>Work items of the blocked path are the heaviest first: a run's last tokens see the most keys.
 */
final class AttentionBlocks {
    /** The shortest run of a sequence's tokens that attends in blocks. */
    static final int MIN_RUN = 16;
    /** Cached rows per block of keys. */
    static final int KEY_BLOCK = 64;
    /** Query rows (tokens × query heads of an item) per block of queries, at least one token's. */
    static final int QUERY_ROWS = 64;

    /** Tokens that attend one at a time: the first {@link #singleCount} of these batch indices. */
    final int[] singles;
    int singleCount;
    /** Blocks of queries: the first token (batch index) and the number of tokens of each, heaviest last. */
    final int[] blockFirst;
    final int[] blockTokens;
    int blockCount;
    private final float[][] queries;
    private final float[][] keys;
    private final float[][] values;
    private final float[][] scores;
    private final float[][] out;

    AttentionBlocks(int capacity, int threads) {
        singles = new int[capacity];
        blockFirst = new int[capacity];
        blockTokens = new int[capacity];
        queries = new float[threads][];
        keys = new float[threads][];
        values = new float[threads][];
        scores = new float[threads][];
        out = new float[threads][];
    }

    /** Tokens per block of queries, when each token brings {@code rowsPerToken} query rows. */
    static int tokensPerBlock(int rowsPerToken) {
        return Math.max(1, QUERY_ROWS / rowsPerToken);
    }

    /** Sorts the batch's tokens into singles and blocks of at most {@code tokensPerBlock} tokens. */
    void plan(Batch batch, int tokensPerBlock) {
        singleCount = 0;
        blockCount = 0;
        int n = batch.size();
        for (int i = 0; i < n; ) {
            int end = i + 1;
            while (end < n && batch.sequence(end) == batch.sequence(i)
                    && batch.position(end) == batch.position(end - 1) + 1) {
                end++;
            }
            if (end - i >= MIN_RUN) {
                for (int first = i; first < end; first += tokensPerBlock) {
                    blockFirst[blockCount] = first;
                    blockTokens[blockCount++] = Math.min(tokensPerBlock, end - first);
                }
            } else {
                for (int t = i; t < end; t++) {
                    singles[singleCount++] = t;
                }
            }
            i = end;
        }
    }

    /** Worker {@code worker}'s buffer for a block of queries, at least {@code size} floats. */
    float[] queries(int worker, int size) {
        return grown(queries, worker, size);
    }

    /** Worker {@code worker}'s buffer for a block of cached keys, at least {@code size} floats. */
    float[] keys(int worker, int size) {
        return grown(keys, worker, size);
    }

    /** Worker {@code worker}'s buffer for a block of cached values, at least {@code size} floats. */
    float[] values(int worker, int size) {
        return grown(values, worker, size);
    }

    /** Worker {@code worker}'s scores of a block of queries against all the keys they see. */
    float[] scores(int worker, int size) {
        return grown(scores, worker, size);
    }

    /** Worker {@code worker}'s outputs of a block of queries, at least {@code size} floats. */
    float[] out(int worker, int size) {
        return grown(out, worker, size);
    }

    private static float[] grown(float[][] buffers, int worker, int size) {
        if (buffers[worker] == null || buffers[worker].length < size) {
            buffers[worker] = new float[size];
        }
        return buffers[worker];
    }

    /**
     * Turns one token's {@code rows} rows of scores (each {@code length} long, from {@code at})
     * into attention weights: the first {@code seen} scaled and through a softmax, rounded to f16
     * for an f16 cache as llama.cpp's f16 products round them; the rest (keys past the token's
     * position) weighing nothing.
     */
    static void weights(float[] scores, int at, int rows, int length, int seen, float scale, boolean halves) {
        for (int r = at; r < at + rows * length; r += length) {
            for (int t = r; t < r + seen; t++) {
                scores[t] *= scale;
            }
            softmax(scores, r, seen, halves);
            java.util.Arrays.fill(scores, r + seen, r + length, 0f);
        }
    }

    /** The softmax of {@code length} scores from {@code at}, rounded to f16 for an f16 cache. */
    static void softmax(float[] scores, int at, int length, boolean halves) {
        dev.fathom.tensor.kernel.VectorMath.softmax(scores, at, length);
        if (halves) {
            for (int t = at; t < at + length; t++) {
                scores[t] = Float.float16ToFloat(Float.floatToFloat16(scores[t]));
            }
        }
    }
}
