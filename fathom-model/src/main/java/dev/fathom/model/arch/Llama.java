package dev.fathom.model.arch;

import dev.fathom.model.ModelFile;
import dev.fathom.tensor.Activations;
import dev.fathom.tensor.FloatTiles;
import dev.fathom.tensor.MatMul;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.kernel.VectorMath;

/**
 * The llama family of decoders: Llama 2/3 (GGUF {@code llama}) and Qwen2 (GGUF {@code qwen2}),
 * which is what the DeepSeek-R1-Distill models are. Pre-norm blocks of grouped-query attention
 * with rotary positions and a SwiGLU feed-forward; Qwen2 adds biases to the q, k and v
 * projections and rotates NEOX pairs.
 *
 * <pre>
 * x = embed(token)
 * per layer:  h = rmsnorm(x)·w_attn;  q, k, v = Wq h (+bq), Wk h (+bk), Wv h (+bv)
 *             q, k = rope(q, pos), rope(k, pos);  cache k, v
 *             x += Wo · softmax(q kᵀ / √d) v          (kv head of q head h: h / (heads / kv heads))
 *             h = rmsnorm(x)·w_ffn;  x += Wdown (silu(Wgate h) ⊙ Wup h)
 * logits = Wout · rmsnorm(x)·w_out
 * </pre>
 */
public final class Llama implements LanguageModel {
    /**
     * One block's weights. The projections that read the same input are kept together, as they
     * are multiplied in one pass: {@code qkv} = {Wq, Wk, Wv}, {@code gateUp} = {Wgate, Wup}.
     */
    private record Layer(float[] attnNorm, Matrix[] qkv, float[] bq, float[] bk, float[] bv, Matrix wo,
            float[] ffnNorm, Matrix[] gateUp, Matrix down) {
    }

    private final LlamaConfig config;
    private final Matrix tokenEmbedding;
    private final Layer[] layers;
    private final float[] outputNorm;
    private final Matrix output;
    private final float[] ropeFactors;
    private final MatMul matmul;
    private Scratch scratch;

    private Llama(LlamaConfig config, Matrix tokenEmbedding, Layer[] layers, float[] outputNorm, Matrix output,
            float[] ropeFactors, MatMul matmul) {
        this.config = config;
        this.tokenEmbedding = tokenEmbedding;
        this.layers = layers;
        this.outputNorm = outputNorm;
        this.output = output;
        this.ropeFactors = ropeFactors;
        this.matmul = matmul;
    }

    /** Binds the weights of {@code gguf} (used in place; the file must stay open). */
    public static Llama load(ModelFile gguf, int vocabularySize, MatMul matmul) {
        LlamaConfig c = LlamaConfig.from(gguf, vocabularySize);
        int dim = c.dim();
        Matrix embedding = gguf.matrix("token_embd.weight", dim, vocabularySize);
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            String b = "blk." + l + ".";
            boolean bias = gguf.hasTensor(b + "attn_q.bias");
            layers[l] = new Layer(
                    gguf.vector(b + "attn_norm.weight", dim),
                    new Matrix[] {gguf.matrix(b + "attn_q.weight", dim, c.qDim()),
                        gguf.matrix(b + "attn_k.weight", dim, c.kvDim()),
                        gguf.matrix(b + "attn_v.weight", dim, c.kvDim())},
                    bias ? gguf.vector(b + "attn_q.bias", c.qDim()) : null,
                    bias ? gguf.vector(b + "attn_k.bias", c.kvDim()) : null,
                    bias ? gguf.vector(b + "attn_v.bias", c.kvDim()) : null,
                    gguf.matrix(b + "attn_output.weight", c.qDim(), dim),
                    gguf.vector(b + "ffn_norm.weight", dim),
                    new Matrix[] {gguf.matrix(b + "ffn_gate.weight", dim, c.ffnDim()),
                        gguf.matrix(b + "ffn_up.weight", dim, c.ffnDim())},
                    gguf.matrix(b + "ffn_down.weight", c.ffnDim(), dim));
        }
        Matrix output = gguf.hasTensor("output.weight")
                ? gguf.matrix("output.weight", dim, vocabularySize) : embedding;
        float[] factors = gguf.hasTensor("rope_freqs.weight")
                ? gguf.vector("rope_freqs.weight", c.ropeDim() / 2) : null;
        if (factors != null && c.ropeNeox()) {
            throw gguf.error("rope_freqs.weight is only used by llama models");
        }
        return new Llama(c, embedding, layers, gguf.vector("output_norm.weight", dim), output, factors, matmul);
    }

    public LlamaConfig config() {
        return config;
    }

    @Override
    public String architecture() {
        return config.architecture();
    }

    @Override
    public int vocabularySize() {
        return config.vocabularySize();
    }

    @Override
    public int trainedContextLength() {
        return config.contextLength();
    }

    @Override
    public KvCache newCache(KvCache.Type type, int slots, int contextLength) {
        return new KvCache(type, config.layers(), slots, contextLength, config.kvDim(), config.kvDim());
    }

    @Override
    public long weightBytesPerToken() {
        long bytes = output.data().byteSize() + tokenEmbedding.rowBytes();
        for (Layer l : layers) {
            for (Matrix m : l.qkv) {
                bytes += m.data().byteSize();
            }
            for (Matrix m : l.gateUp) {
                bytes += m.data().byteSize();
            }
            bytes += l.wo.data().byteSize() + l.down.data().byteSize();
        }
        return bytes;
    }

    @Override
    public String describe() {
        LlamaConfig c = config;
        return String.format("%s: %d layers, dim %d, %d heads (%d kv) of %d, ffn %d, vocab %d, trained context %d",
                c.architecture(), c.layers(), c.dim(), c.heads(), c.kvHeads(), c.headDim(), c.ffnDim(),
                c.vocabularySize(), c.contextLength());
    }

    /** Work buffers for batches of up to {@code capacity} tokens. */
    private static final class Scratch {
        final int capacity;
        final float[] x;
        final Activations normed;
        final float[] q;
        final float[] k;
        final float[] v;
        final Activations attention;
        final float[] projected;
        final float[] gate;
        final float[] up;
        final Activations hidden;
        final float[] cos;
        final float[] sin;
        /** Per thread: attention scores of a group of query heads, one context-length row each. */
        final float[][] scores;
        /** Per thread: a group of query heads. */
        final float[][] query;
        /** Per thread: one cached key or value row, widened to floats. */
        final float[][] row;
        /** The outputs of the fused projections, in the order of {@link Layer#qkv} and {@link Layer#gateUp}. */
        final float[][] qkv;
        final float[][] gateUp;
        final AttentionBlocks blocks;

        Scratch(LlamaConfig c, int capacity, int contextLength, int threads) {
            this.capacity = capacity;
            x = new float[capacity * c.dim()];
            normed = new Activations(capacity, c.dim());
            q = new float[capacity * c.qDim()];
            k = new float[capacity * c.kvDim()];
            v = new float[capacity * c.kvDim()];
            attention = new Activations(capacity, c.qDim());
            projected = new float[capacity * c.dim()];
            gate = new float[capacity * c.ffnDim()];
            up = new float[capacity * c.ffnDim()];
            hidden = new Activations(capacity, c.ffnDim());
            cos = new float[capacity * c.ropeDim() / 2];
            sin = new float[capacity * c.ropeDim() / 2];
            int group = c.heads() / c.kvHeads();
            scores = new float[threads][group * contextLength];
            query = new float[threads][group * c.headDim()];
            row = new float[threads][c.headDim()];
            qkv = new float[][] {q, k, v};
            gateUp = new float[][] {gate, up};
            blocks = new AttentionBlocks(capacity, threads);
        }
    }

    private Scratch scratch(int tokens, int contextLength) {
        Scratch s = scratch;
        if (s == null || s.capacity < tokens || s.scores[0].length < contextLength * (config.heads() / config.kvHeads())) {
            int capacity = Math.max(tokens, s == null ? 0 : s.capacity);
            s = new Scratch(config, capacity, contextLength, matmul.parallel().threads());
            scratch = s;
        }
        return s;
    }

    @Override
    public void forward(Batch batch, KvCache cache, float[] logits) {
        cache.check(batch);
        LlamaConfig c = config;
        int n = batch.size();
        Scratch s = scratch(n, cache.contextLength());
        int dim = c.dim();
        Ops.embed(batch, tokenEmbedding, s.x, dim);
        int half = c.ropeDim() / 2;
        for (int i = 0; i < n; i++) {
            Ops.ropeAngles(batch.position(i), c.ropeBase(), c.ropeScale(), c.ropeDim(), ropeFactors, s.cos, s.sin, i * half);
        }
        for (int l = 0; l < layers.length; l++) {
            Layer layer = layers[l];
            Ops.rmsNorm(s.x, layer.attnNorm, c.rmsEps(), s.normed.values(), n, dim);
            s.normed.update(n);
            matmul.multiply(s.normed, layer.qkv, s.qkv);
            if (layer.bq != null) {
                Ops.addBias(s.q, layer.bq, n);
                Ops.addBias(s.k, layer.bk, n);
                Ops.addBias(s.v, layer.bv, n);
            }
            for (int i = 0; i < n; i++) {
                Ops.rope(s.q, i * c.qDim(), c.heads(), c.headDim(), c.ropeDim(), c.ropeNeox(), s.cos, s.sin, i * half);
                Ops.rope(s.k, i * c.kvDim(), c.kvHeads(), c.headDim(), c.ropeDim(), c.ropeNeox(), s.cos, s.sin, i * half);
                int slot = batch.sequence(i);
                int pos = batch.position(i);
                cache.storeKey(l, slot, pos, s.k, i * c.kvDim());
                cache.storeValue(l, slot, pos, s.v, i * c.kvDim());
            }
            attention(batch, cache, l, s);
            matmul.multiply(layer.wo, s.attention, s.projected);
            Ops.add(s.x, s.projected, n * dim);

            Ops.rmsNorm(s.x, layer.ffnNorm, c.rmsEps(), s.normed.values(), n, dim);
            s.normed.update(n);
            matmul.multiply(s.normed, layer.gateUp, s.gateUp);
            VectorMath.swiglu(s.gate, s.up, s.hidden.values(), n * c.ffnDim());
            s.hidden.update(n);
            matmul.multiply(layer.down, s.hidden, s.projected);
            Ops.add(s.x, s.projected, n * dim);
        }
        int rows = 0;
        for (int i = 0; i < n; i++) {
            if (batch.wantsLogits(i)) {
                System.arraycopy(s.x, i * dim, s.x, rows * dim, dim);
                rows++;
            }
        }
        if (rows == 0) {
            return;
        }
        Ops.rmsNorm(s.x, outputNorm, c.rmsEps(), s.normed.values(), rows, dim);
        s.normed.update(rows);
        matmul.multiply(output, s.normed, logits);
    }

    /**
     * Causal grouped-query attention: prompts in blocks ({@link #attendBlocks}), replies token by
     * token ({@link #attendTokens}), as {@link AttentionBlocks} sorts them. With an f16 cache the
     * queries and the attention weights are rounded to f16 before they meet the cached keys and
     * values, as llama.cpp's f16 matrix products do.
     */
    private void attention(Batch batch, KvCache cache, int layer, Scratch s) {
        AttentionBlocks plan = s.blocks;
        plan.plan(batch, AttentionBlocks.tokensPerBlock(config.heads() / config.kvHeads()));
        if (plan.singleCount > 0) {
            attendTokens(batch, cache, layer, s, plan.singleCount);
        }
        if (plan.blockCount > 0) {
            attendBlocks(batch, cache, layer, s, plan.blockCount);
        }
        s.attention.update(batch.size());
    }

    /**
     * The attention of the tokens {@link AttentionBlocks} lists as singles. Work items are
     * (token, kv head) pairs: each cached key and value row is read (and widened from f16) once
     * for all the query heads that share it.
     */
    private void attendTokens(Batch batch, KvCache cache, int layer, Scratch s, int count) {
        LlamaConfig c = config;
        int headDim = c.headDim();
        int group = c.heads() / c.kvHeads();
        float scale = (float) (1 / Math.sqrt(headDim));
        boolean halves = cache.type() == KvCache.Type.F16;
        float[] out = s.attention.values();
        matmul.parallel().forRange(count * c.kvHeads(), 1, (worker, from, to) -> {
            float[] scores = s.scores[worker];
            float[] queries = s.query[worker];
            float[] row = s.row[worker];
            int length0 = cache.contextLength();
            for (int item = from; item < to; item++) {
                int i = s.blocks.singles[item / c.kvHeads()];
                int g = item % c.kvHeads();
                int slot = batch.sequence(i);
                int length = batch.position(i) + 1;
                int q = i * c.qDim() + g * group * headDim; // the group's first query head
                for (int d = 0; d < group * headDim; d++) {
                    queries[d] = halves ? Float.float16ToFloat(Float.floatToFloat16(s.q[q + d])) : s.q[q + d];
                }
                for (int t = 0; t < length; t++) {
                    cache.readKey(layer, slot, t, g * headDim, row, headDim);
                    for (int h = 0; h < group; h++) {
                        scores[h * length0 + t] = VectorMath.dot(queries, h * headDim, row, 0, headDim) * scale;
                    }
                }
                for (int h = 0; h < group; h++) {
                    AttentionBlocks.softmax(scores, h * length0, length, halves);
                }
                java.util.Arrays.fill(out, q, q + group * headDim, 0f);
                for (int t = 0; t < length; t++) {
                    cache.readValue(layer, slot, t, g * headDim, row, headDim);
                    for (int h = 0; h < group; h++) {
                        VectorMath.addScaled(scores[h * length0 + t], row, 0, out, q + h * headDim, headDim);
                    }
                }
            }
        });
    }

    /**
     * The attention of runs of a sequence's tokens: work items are a block of a few consecutive
     * tokens and one kv head, whose query heads for those tokens make the block's queries (token-
     * major). The scores of all of them against every key they see come from one tiled product a
     * block of cached rows at a time, and after each token's causal softmax, the outputs from a
     * second one over the value rows.
     */
    private void attendBlocks(Batch batch, KvCache cache, int layer, Scratch s, int count) {
        LlamaConfig c = config;
        int headDim = c.headDim();
        int kvHeads = c.kvHeads();
        int kvDim = c.kvDim();
        int group = c.heads() / kvHeads;
        float scale = (float) (1 / Math.sqrt(headDim));
        boolean halves = cache.type() == KvCache.Type.F16;
        float[] out = s.attention.values();
        AttentionBlocks plan = s.blocks;
        matmul.parallel().forRange(count * kvHeads, 1, (worker, from, to) -> {
            for (int item = from; item < to; item++) {
                int b = count - 1 - item / kvHeads;
                int g = item % kvHeads;
                int first = plan.blockFirst[b];
                int tokens = plan.blockTokens[b];
                int rows = tokens * group;
                int slot = batch.sequence(first);
                int length = batch.position(first + tokens - 1) + 1; // the keys the last token sees
                float[] query = plan.queries(worker, rows * headDim);
                float[] keys = plan.keys(worker, AttentionBlocks.KEY_BLOCK * kvDim);
                float[] values = plan.values(worker, AttentionBlocks.KEY_BLOCK * kvDim);
                float[] scores = plan.scores(worker, rows * length);
                float[] result = plan.out(worker, rows * headDim);
                int span = group * headDim; // one token's query heads of the group
                for (int u = 0; u < tokens; u++) {
                    int q = (first + u) * c.qDim() + g * span;
                    for (int d = 0; d < span; d++) {
                        query[u * span + d] = halves ? Float.float16ToFloat(Float.floatToFloat16(s.q[q + d])) : s.q[q + d];
                    }
                }
                for (int t = 0; t < length; t += AttentionBlocks.KEY_BLOCK) {
                    int m = Math.min(AttentionBlocks.KEY_BLOCK, length - t);
                    cache.readKeys(layer, slot, t, m, keys);
                    FloatTiles.products(query, 0, headDim, rows, keys, g * headDim, kvDim, m, headDim, scores, t, length);
                }
                for (int u = 0; u < tokens; u++) {
                    int seen = batch.position(first + u) + 1;
                    AttentionBlocks.weights(scores, u * group * length, group, length, seen, scale, halves);
                }
                java.util.Arrays.fill(result, 0, rows * headDim, 0f);
                for (int t = 0; t < length; t += AttentionBlocks.KEY_BLOCK) {
                    int m = Math.min(AttentionBlocks.KEY_BLOCK, length - t);
                    cache.readValues(layer, slot, t, m, values);
                    FloatTiles.weightedSums(scores, t, length, rows, values, g * headDim, kvDim, m, headDim, result, 0,
                            headDim);
                }
                for (int u = 0; u < tokens; u++) {
                    System.arraycopy(result, u * span, out, (first + u) * c.qDim() + g * span, span);
                }
            }
        });
    }
}
