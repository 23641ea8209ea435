package dev.fathom.model.arch;

import dev.fathom.model.ModelFile;
import dev.fathom.tensor.Activations;
import dev.fathom.tensor.FloatTiles;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.MatMul;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.kernel.VectorMath;
import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * DeepSeek-V2, V3 and R1 (GGUF {@code deepseek2}): Multi-head Latent Attention and DeepSeekMoE.
 *
 * <pre>
 * x = embed(token)
 * per layer:  h = rmsnorm(x)·w_attn
 *             q = Wqb · rmsnorm(Wqa h)  (or Wq h);  per head q = [q_nope (d_nope) ; q_rope (d_rope)]
 *             [c ; k_rope] = Wkva h;  c = rmsnorm(c);  q_rope, k_rope = rope(q_rope, k_rope, pos)
 *             cache [c ; k_rope]                      (the latent: kv_lora_rank + d_rope values per token)
 *             per head: q̃ = Wkb_hᵀ q_nope  (absorbed into the latent's space)
 *                       a = softmax(s · ([q̃ ; q_rope] · [c_t ; k_rope,t]))  over t ≤ pos
 *                       o_h = Wvb_h · Σ_t a_t c_t
 *             x += Wo · concat_h(o_h)
 *             h = rmsnorm(x)·w_ffn
 *             dense layers:  x += Wdown (silu(Wgate h) ⊙ Wup h)
 *             MoE layers:    x += Σ_{e ∈ top-k} w_e · expert_e(h) + shared(h)
 * logits = Wout · rmsnorm(x)·w_out
 * </pre>
 *
 * The cache holds only the latent and the shared rotary key (576 values per token and layer in
 * V3, instead of 128 heads × 2 × 128 for plain multi-head attention): attention runs in the
 * latent space at every step, which is the absorbed form of the projections. Where the file keeps
 * DeepSeek-V3's multi-token-prediction layer, {@link #draft} runs it to guess a token ahead.
 */
public final class DeepSeek2 implements LanguageModel {
    /**
     * One block's weights. {@code in} are the projections of the normed input, multiplied in one
     * pass: {Wqa, Wkva} with a query bottleneck, else {Wq, Wkva}. {@code kb[h]} maps head h's
     * q_nope into the latent (kv_lora_rank × d_nope), {@code vb[h]} the latent to its value
     * (d_v × kv_lora_rank). A dense layer has {@code gateUp}/{@code down}; a MoE layer has the
     * router, its bias (V3), and per expert {gate, up} and down, plus the shared experts.
     */
    private record Layer(float[] attnNorm, Matrix[] in, float[] qaNorm, Matrix qb, float[] kvaNorm, Matrix[] kb,
            Matrix[] vb, Matrix wo, float[] ffnNorm, Matrix[] gateUp, Matrix down, Matrix router, float[] routerBias,
            Matrix[][] expertGateUp, Matrix[] expertDown) {
    }

    /**
     * The multi-token-prediction layer (DeepSeek-V3's "layer 61"): its projection of the joined
     * [embedding ; hidden state], the two norms before it, a full block, and its head (the
     * model's own embedding, output norm and output where the file has no separate ones).
     */
    private record Mtp(Matrix projection, float[] embeddingNorm, float[] hiddenNorm, Matrix embedding, Layer block,
            float[] headNorm, Matrix head) {
    }

    private final DeepSeek2Config config;
    private final Matrix tokenEmbedding;
    private final Layer[] layers;
    private final float[] outputNorm;
    private final Matrix output;
    private final Mtp mtp;
    private final MatMul matmul;
    private Scratch scratch;

    private DeepSeek2(DeepSeek2Config config, Matrix tokenEmbedding, Layer[] layers, float[] outputNorm, Matrix output,
            Mtp mtp, MatMul matmul) {
        this.config = config;
        this.tokenEmbedding = tokenEmbedding;
        this.layers = layers;
        this.outputNorm = outputNorm;
        this.output = output;
        this.mtp = mtp;
        this.matmul = matmul;
    }

    /** Binds the weights of {@code gguf} (used in place; the file must stay open). */
    public static DeepSeek2 load(ModelFile gguf, int vocabularySize, MatMul matmul) {
        DeepSeek2Config c = DeepSeek2Config.from(gguf, vocabularySize);
        int dim = c.dim();
        int heads = c.heads();
        int qWidth = heads * c.keyDim();
        Matrix embedding = gguf.matrix("token_embd.weight", dim, vocabularySize);
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = layer(gguf, c, l);
        }
        Matrix output = gguf.hasTensor("output.weight")
                ? gguf.matrix("output.weight", dim, vocabularySize) : embedding;
        float[] outputNorm = gguf.vector("output_norm.weight", dim);
        Mtp mtp = null;
        String n = "blk." + c.layers() + ".nextn.";
        if (c.mtpLayers() > 0 && gguf.hasTensor(n + "eh_proj.weight")) {
            mtp = new Mtp(gguf.matrix(n + "eh_proj.weight", 2L * dim, dim), gguf.vector(n + "enorm.weight", dim),
                    gguf.vector(n + "hnorm.weight", dim),
                    gguf.hasTensor(n + "embed_tokens.weight") ? gguf.matrix(n + "embed_tokens.weight", dim, vocabularySize) : embedding,
                    layer(gguf, c, c.layers()),
                    gguf.hasTensor(n + "shared_head_norm.weight") ? gguf.vector(n + "shared_head_norm.weight", dim) : outputNorm,
                    gguf.hasTensor(n + "shared_head_head.weight") ? gguf.matrix(n + "shared_head_head.weight", dim, vocabularySize) : output);
        }
        return new DeepSeek2(c, embedding, layers, outputNorm, output, mtp, matmul);
    }

    /**
     * Per head, the map of q_nope into the latent: W_UK,hᵀ (kv_lora_rank × d_nope), which current
     * files store as attn_k_b. Older files have only attn_kv_b, whose rows for head h are W_UK,h
     * (d_nope rows of kv_lora_rank) then W_UV,h: there W_UK,h is transposed once, at load, into
     * f16 (f32 when the file is f32), the only weights Fathom does not use in place.
     */
    private static Matrix[] keyAbsorption(ModelFile gguf, DeepSeek2Config c, String b) {
        if (gguf.hasTensor(b + "attn_k_b.weight") || !gguf.hasTensor(b + "attn_kv_b.weight")) {
            return gguf.matrices(b + "attn_k_b.weight", c.nopeDim(), c.kvLoraRank(), c.heads());
        }
        Matrix kv = unsplit(gguf, c, b);
        int rank = c.kvLoraRank();
        int nope = c.nopeDim();
        GgmlType type = kv.type() == GgmlType.F32 ? GgmlType.F32 : GgmlType.F16;
        WeightKernel kernel = WeightKernel.of(type);
        long rowBytes = type.bytesFor(nope);
        Matrix[] heads = new Matrix[c.heads()];
        float[] rows = new float[nope * rank];
        float[] column = new float[nope];
        for (int h = 0; h < heads.length; h++) {
            for (int j = 0; j < nope; j++) {
                kv.dequantizeRow(h * (nope + c.valueDim()) + j, rows, j * rank);
            }
            MemorySegment data = Arena.ofAuto().allocate(rank * rowBytes, 64);
            for (int r = 0; r < rank; r++) {
                for (int j = 0; j < nope; j++) {
                    column[j] = rows[j * rank + r];
                }
                kernel.quantize(column, 0, data, r * rowBytes, nope);
            }
            heads[h] = new Matrix(b + "attn_kv_b.weight[" + h + "]ᵀ", type, data, rank, nope);
        }
        return heads;
    }

    /** Per head, W_UV,h (d_v × kv_lora_rank): attn_v_b, or its rows of an older file's attn_kv_b, in place. */
    private static Matrix[] valueProjection(ModelFile gguf, DeepSeek2Config c, String b) {
        if (gguf.hasTensor(b + "attn_v_b.weight") || !gguf.hasTensor(b + "attn_kv_b.weight")) {
            return gguf.matrices(b + "attn_v_b.weight", c.kvLoraRank(), c.valueDim(), c.heads());
        }
        Matrix kv = unsplit(gguf, c, b);
        int stride = c.nopeDim() + c.valueDim();
        Matrix[] heads = new Matrix[c.heads()];
        for (int h = 0; h < heads.length; h++) {
            heads[h] = kv.rows(b + "attn_kv_b.weight[" + h + "]", h * stride + c.nopeDim(), c.valueDim());
        }
        return heads;
    }

    private static Matrix unsplit(ModelFile gguf, DeepSeek2Config c, String b) {
        return gguf.matrix(b + "attn_kv_b.weight", c.kvLoraRank(), (long) c.heads() * (c.nopeDim() + c.valueDim()));
    }

    /** The weights of block {@code l} (the MTP layer's block is the one after the last). */
    private static Layer layer(ModelFile gguf, DeepSeek2Config c, int l) {
        int dim = c.dim();
        int heads = c.heads();
        int qWidth = heads * c.keyDim();
        String b = "blk." + l + ".";
        Matrix kva = gguf.matrix(b + "attn_kv_a_mqa.weight", dim, c.cacheWidth());
        boolean lowRank = c.qLoraRank() > 0;
        Matrix[] in = lowRank
                ? new Matrix[] {gguf.matrix(b + "attn_q_a.weight", dim, c.qLoraRank()), kva}
                : new Matrix[] {gguf.matrix(b + "attn_q.weight", dim, qWidth), kva};
        boolean moe = c.isMoe(l);
        Matrix[][] expertGateUp = null;
        Matrix[] expertDown = null;
        if (moe) {
            Matrix[] gate = gguf.matrices(b + "ffn_gate_exps.weight", dim, c.expertFfnDim(), c.experts());
            Matrix[] up = gguf.matrices(b + "ffn_up_exps.weight", dim, c.expertFfnDim(), c.experts());
            expertGateUp = new Matrix[c.experts()][];
            for (int e = 0; e < c.experts(); e++) {
                expertGateUp[e] = new Matrix[] {gate[e], up[e]};
            }
            expertDown = gguf.matrices(b + "ffn_down_exps.weight", c.expertFfnDim(), dim, c.experts());
        }
        int ffn = moe ? c.expertFfnDim() * c.sharedExperts() : c.ffnDim();
        String suffix = moe ? "_shexp.weight" : ".weight";
        return new Layer(
                gguf.vector(b + "attn_norm.weight", dim),
                in,
                lowRank ? gguf.vector(b + "attn_q_a_norm.weight", c.qLoraRank()) : null,
                lowRank ? gguf.matrix(b + "attn_q_b.weight", c.qLoraRank(), qWidth) : null,
                gguf.vector(b + "attn_kv_a_norm.weight", c.kvLoraRank()),
                keyAbsorption(gguf, c, b),
                valueProjection(gguf, c, b),
                gguf.matrix(b + "attn_output.weight", heads * c.valueDim(), dim),
                gguf.vector(b + "ffn_norm.weight", dim),
                new Matrix[] {gguf.matrix(b + "ffn_gate" + suffix, dim, ffn), gguf.matrix(b + "ffn_up" + suffix, dim, ffn)},
                gguf.matrix(b + "ffn_down" + suffix, ffn, dim),
                moe ? gguf.matrix(b + "ffn_gate_inp.weight", dim, c.experts()) : null,
                moe && gguf.hasTensor(b + "exp_probs_b.bias") ? gguf.vector(b + "exp_probs_b.bias", c.experts()) : null,
                expertGateUp,
                expertDown);
    }

    public DeepSeek2Config config() {
        return config;
    }

    @Override
    public String architecture() {
        return "deepseek2";
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
        // One row per token: the latent, then the rotary key. The latent is also the value.
        return new KvCache(type, config.layers() + (mtp != null ? 1 : 0), slots, contextLength, config.cacheWidth(), 0);
    }

    @Override
    public long weightBytesPerToken() {
        long bytes = output.data().byteSize() + tokenEmbedding.rowBytes();
        for (Layer l : layers) {
            for (Matrix m : l.in) {
                bytes += m.data().byteSize();
            }
            bytes += l.qb == null ? 0 : l.qb.data().byteSize();
            bytes += l.kb.length * (l.kb[0].data().byteSize() + l.vb[0].data().byteSize()) + l.wo.data().byteSize();
            bytes += l.gateUp[0].data().byteSize() + l.gateUp[1].data().byteSize() + l.down.data().byteSize();
            if (l.router != null) { // the router and the experts a token uses
                long expert = l.expertGateUp[0][0].data().byteSize() + l.expertGateUp[0][1].data().byteSize()
                        + l.expertDown[0].data().byteSize();
                bytes += l.router.data().byteSize() + config.expertsUsed() * expert;
            }
        }
        return bytes;
    }

    @Override
    public String describe() {
        DeepSeek2Config c = config;
        String experts = c.denseLayers() >= c.layers() ? "dense" : String.format(
                "%d routed experts (%d per token, %s gating%s) + %d shared, expert ffn %d, first %d dense (ffn %d)",
                c.experts(), c.expertsUsed(), c.sigmoidGating() ? "sigmoid" : "softmax",
                c.groups() > 0 ? ", " + c.groupsUsed() + " of " + c.groups() + " groups" : "", c.sharedExperts(),
                c.expertFfnDim(), c.denseLayers(), c.ffnDim());
        return String.format("deepseek2: %d layers, dim %d, %d MLA heads (q lora %d, kv lora %d, dims %d+%d/%d), %s, "
                        + "vocab %d, trained context %d", c.layers(), c.dim(), c.heads(), c.qLoraRank(), c.kvLoraRank(),
                c.nopeDim(), c.ropeDim(), c.valueDim(), experts, c.vocabularySize(), c.contextLength());
    }

    /** Work buffers for batches of up to {@code capacity} tokens. */
    private static final class Scratch {
        final int capacity;
        final float[] x;
        final Activations normed;
        final Activations joined;
        final float[] qLow;
        final Activations qLowNormed;
        final float[] q;
        final float[] kva;
        final float[][] in;
        final Activations[] qNope;
        final float[][] qAbsorbed;
        final Activations[] latent;
        final float[][] headOut;
        final Activations attention;
        final float[] projected;
        final float[] cos;
        final float[] sin;
        final float[] gate;
        final float[] up;
        final float[][] gateUp;
        final Activations denseHidden;
        final Activations sharedHidden;
        // MoE
        final float[] routerLogits;
        final int[] selected;
        final float[] weights;
        final float[] expertResults;
        final int[] expertCounts;
        final float[] routeScores;
        final float[] routeSelection;
        final float[] groupScores;
        final boolean[] groupKept;
        final float[] sharedOut;
        /** For an expert that many tokens of the batch chose. */
        final ExpertBuffers large;
        /** For experts that few tokens chose, run together in one pass: one per expert at most. */
        final ExpertBuffers[] small;
        // Per thread
        final float[][] scores;
        final float[][] query;
        final float[][] row;
        final AttentionBlocks blocks;

        Scratch(DeepSeek2Config c, int capacity, int contextLength, int threads) {
            this.capacity = capacity;
            int heads = c.heads();
            x = new float[capacity * c.dim()];
            normed = new Activations(capacity, c.dim());
            joined = new Activations(capacity, 2 * c.dim());
            qLow = new float[capacity * Math.max(1, c.qLoraRank())];
            qLowNormed = c.qLoraRank() > 0 ? new Activations(capacity, c.qLoraRank()) : null;
            q = new float[capacity * heads * c.keyDim()];
            kva = new float[capacity * c.cacheWidth()];
            in = new float[][] {c.qLoraRank() > 0 ? qLow : q, kva};
            qNope = new Activations[heads];
            qAbsorbed = new float[heads][capacity * c.kvLoraRank()];
            latent = new Activations[heads];
            headOut = new float[heads][capacity * c.valueDim()];
            for (int h = 0; h < heads; h++) {
                qNope[h] = new Activations(capacity, c.nopeDim());
                latent[h] = new Activations(capacity, c.kvLoraRank());
            }
            attention = new Activations(capacity, heads * c.valueDim());
            projected = new float[capacity * c.dim()];
            cos = new float[capacity * c.ropeDim() / 2];
            sin = new float[capacity * c.ropeDim() / 2];
            int ffn = Math.max(c.ffnDim(), c.expertFfnDim() * c.sharedExperts());
            gate = new float[capacity * ffn];
            up = new float[capacity * ffn];
            gateUp = new float[][] {gate, up};
            denseHidden = new Activations(capacity, Math.max(1, c.ffnDim()));
            sharedHidden = new Activations(capacity, Math.max(1, c.expertFfnDim() * c.sharedExperts()));
            int experts = Math.max(1, c.experts());
            int used = Math.max(1, c.expertsUsed());
            routerLogits = new float[capacity * experts];
            selected = new int[capacity * used];
            weights = new float[capacity * used];
            expertResults = new float[capacity * used * c.dim()];
            expertCounts = new int[experts];
            routeScores = new float[experts];
            routeSelection = new float[experts];
            groupScores = new float[Math.max(1, c.groups())];
            groupKept = new boolean[Math.max(1, c.groups())];
            sharedOut = new float[capacity * c.dim()];
            large = new ExpertBuffers(c, capacity);
            small = new ExpertBuffers[Math.min(experts, capacity * used)];
            for (int e = 0; e < small.length; e++) {
                small[e] = new ExpertBuffers(c, Math.min(capacity, MatMul.TILED_MIN_TOKENS - 1));
            }
            scores = new float[threads][heads * contextLength];
            query = new float[threads][heads * c.cacheWidth()];
            row = new float[threads][c.cacheWidth()];
            blocks = new AttentionBlocks(capacity, threads);
        }
    }

    /** One expert's work: its tokens' inputs, the slots (token · k + rank) they came from, and what it makes of them. */
    private static final class ExpertBuffers {
        final Activations in;
        final int[] slots;
        final float[] gate;
        final float[] up;
        final Activations hidden;
        final float[] out;
        int expert;

        ExpertBuffers(DeepSeek2Config c, int capacity) {
            int ffn = Math.max(1, c.expertFfnDim());
            in = new Activations(capacity, c.dim());
            slots = new int[capacity];
            gate = new float[capacity * ffn];
            up = new float[capacity * ffn];
            hidden = new Activations(capacity, ffn);
            out = new float[capacity * c.dim()];
        }
    }

    private Scratch scratch(int tokens, int contextLength) {
        Scratch s = scratch;
        int heads = config.heads();
        if (s == null || s.capacity < tokens || s.scores[0].length < heads * contextLength) {
            int capacity = Math.max(tokens, s == null ? 0 : s.capacity);
            s = new Scratch(config, capacity, Math.max(contextLength, s == null ? 0 : s.scores[0].length / heads),
                    matmul.parallel().threads());
            scratch = s;
        }
        return s;
    }

    @Override
    public void forward(Batch batch, KvCache cache, float[] logits) {
        forward(batch, cache, logits, null);
    }

    /**
     * As {@link #forward(Batch, KvCache, float[])}, and when {@code hidden} is given, also writes
     * every token's final hidden state (after the output norm, as llama.cpp hands it to the MTP
     * layer) into it, {@code dim} values per token in batch order.
     */
    public void forward(Batch batch, KvCache cache, float[] logits, float[] hidden) {
        cache.check(batch);
        DeepSeek2Config c = config;
        int n = batch.size();
        Scratch s = scratch(n, cache.contextLength());
        int dim = c.dim();
        Ops.embed(batch, tokenEmbedding, s.x, dim);
        ropeAngles(batch, s);
        for (int l = 0; l < layers.length; l++) {
            block(layers[l], l, batch, cache, s);
        }
        head(batch, outputNorm, output, logits, hidden, s);
    }

    /** Whether the file has a multi-token-prediction layer, for {@link #draft}. */
    public boolean hasMtp() {
        return mtp != null;
    }

    /**
     * Runs the multi-token-prediction layer: for each token t_j of the batch (at position j),
     * with the main model's final hidden state at position j − 1 in {@code hidden} (row i for
     * batch token i), h = Weh [rmsnorm(emb(t_j)) ; rmsnorm(H_{j−1})], one more block (with its
     * own layer of the cache) and the shared head: logits for the token at j + 2, for the
     * tokens that want them.
     */
    public void draft(Batch batch, float[] hidden, KvCache cache, float[] logits) {
        cache.check(batch);
        DeepSeek2Config c = config;
        int n = batch.size();
        Scratch s = scratch(n, cache.contextLength());
        int dim = c.dim();
        float[] joined = s.joined.values(); // [rmsnorm(embedding) ; rmsnorm(hidden)] per token, 2·dim wide
        Ops.embed(batch, mtp.embedding, joined, 2 * dim);
        for (int i = 0; i < n; i++) {
            Ops.rmsNormInPlace(joined, 2 * i * dim, mtp.embeddingNorm, c.rmsEps(), dim);
            System.arraycopy(hidden, i * dim, joined, (2 * i + 1) * dim, dim);
            Ops.rmsNormInPlace(joined, (2 * i + 1) * dim, mtp.hiddenNorm, c.rmsEps(), dim);
        }
        s.joined.update(n);
        matmul.multiply(mtp.projection, s.joined, s.x);
        ropeAngles(batch, s);
        block(mtp.block, layers.length, batch, cache, s);
        head(batch, mtp.headNorm, mtp.head, logits, null, s);
    }

    private void ropeAngles(Batch batch, Scratch s) {
        int half = config.ropeDim() / 2;
        for (int i = 0; i < batch.size(); i++) {
            Ops.ropeAnglesYarn(batch.position(i), config.rope(), config.ropeDim(), s.cos, s.sin, i * half);
        }
    }

    /** One transformer block on the residual stream {@code s.x}, using layer {@code l} of the cache. */
    private void block(Layer layer, int l, Batch batch, KvCache cache, Scratch s) {
        DeepSeek2Config c = config;
        int n = batch.size();
        int dim = c.dim();
        Ops.rmsNorm(s.x, layer.attnNorm, c.rmsEps(), s.normed.values(), n, dim);
        s.normed.update(n);
        attention(batch, cache, l, layer, s);
        Ops.add(s.x, s.projected, n * dim);

        Ops.rmsNorm(s.x, layer.ffnNorm, c.rmsEps(), s.normed.values(), n, dim);
        s.normed.update(n);
        if (layer.router == null) {
            feedForward(s.normed, layer.gateUp, layer.down, s.denseHidden, s.projected, s);
        } else {
            experts(layer, s, n);
        }
        Ops.add(s.x, s.projected, n * dim);
    }

    /** The final norm of every token (into {@code hidden} if given), and the logits of those that want them. */
    private void head(Batch batch, float[] norm, Matrix head, float[] logits, float[] hidden, Scratch s) {
        int n = batch.size();
        int dim = config.dim();
        float[] normed = s.normed.values();
        Ops.rmsNorm(s.x, norm, config.rmsEps(), normed, n, dim);
        if (hidden != null) {
            System.arraycopy(normed, 0, hidden, 0, n * dim);
        }
        int rows = 0;
        for (int i = 0; i < n; i++) {
            if (batch.wantsLogits(i)) {
                System.arraycopy(normed, i * dim, normed, rows * dim, dim);
                rows++;
            }
        }
        if (rows > 0) {
            s.normed.update(rows);
            matmul.multiply(head, s.normed, logits);
        }
    }

    /** Multi-head latent attention of the batch's normed input; leaves Wo · heads in {@code s.projected}. */
    private void attention(Batch batch, KvCache cache, int l, Layer layer, Scratch s) {
        DeepSeek2Config c = config;
        int n = batch.size();
        int heads = c.heads();
        int keyDim = c.keyDim();
        int nope = c.nopeDim();
        int rank = c.kvLoraRank();
        int width = c.cacheWidth();
        int half = c.ropeDim() / 2;
        matmul.multiply(s.normed, layer.in, s.in);
        if (layer.qb != null) {
            Ops.rmsNorm(s.qLow, layer.qaNorm, c.rmsEps(), s.qLowNormed.values(), n, c.qLoraRank());
            s.qLowNormed.update(n);
            matmul.multiply(layer.qb, s.qLowNormed, s.q);
        }
        for (int i = 0; i < n; i++) {
            int row = i * width;
            Ops.rope(s.kva, row + rank, 1, c.ropeDim(), c.ropeDim(), false, s.cos, s.sin, i * half);
            Ops.rmsNormInPlace(s.kva, row, layer.kvaNorm, c.rmsEps(), rank);
            cache.storeKey(l, batch.sequence(i), batch.position(i), s.kva, row);
            int q = i * heads * keyDim;
            Ops.rope(s.q, q + nope, heads, keyDim, c.ropeDim(), false, s.cos, s.sin, i * half);
            for (int h = 0; h < heads; h++) {
                System.arraycopy(s.q, q + h * keyDim, s.qNope[h].values(), i * nope, nope);
            }
        }
        for (int h = 0; h < heads; h++) {
            s.qNope[h].update(n);
        }
        matmul.multiply(s.qNope, layer.kb, s.qAbsorbed);
        attend(batch, cache, l, s);
        int valueDim = c.valueDim();
        float[] out = s.attention.values();
        for (int h = 0; h < heads; h++) {
            s.latent[h].update(n);
        }
        matmul.multiply(s.latent, layer.vb, s.headOut);
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < n; i++) {
                System.arraycopy(s.headOut[h], i * valueDim, out, (i * heads + h) * valueDim, valueDim);
            }
        }
        s.attention.update(n);
        matmul.multiply(layer.wo, s.attention, s.projected);
    }

    /**
     * Causal attention in the latent space, where all heads share the cached rows [c ; k_rope]:
     * prompts in blocks ({@link #attendBlocks}), replies token by token ({@link #attendTokens}),
     * as {@link AttentionBlocks} sorts them. With an f16 cache, queries and weights are
     * rounded to f16 before they meet the cache, as llama.cpp's f16 products do.
     */
    private void attend(Batch batch, KvCache cache, int layer, Scratch s) {
        AttentionBlocks plan = s.blocks;
        plan.plan(batch, AttentionBlocks.tokensPerBlock(config.heads()));
        if (plan.singleCount > 0) {
            attendTokens(batch, cache, layer, s, plan.singleCount);
        }
        if (plan.blockCount > 0) {
            attendBlocks(batch, cache, layer, s, plan.blockCount);
        }
    }

    /**
     * The attention of the tokens {@link AttentionBlocks} lists as singles. A work item is a token
     * and a group of its heads: each cached row is read (and widened from f16) once for the whole
     * group, scored against each head's absorbed query, and after the softmax added, weighted,
     * into each head's latent output {@code s.latent[h]}. With many tokens, one group each; a
     * single token splits its heads between the threads.
     */
    private void attendTokens(Batch batch, KvCache cache, int layer, Scratch s, int count) {
        DeepSeek2Config c = config;
        int heads = c.heads();
        int rank = c.kvLoraRank();
        int width = c.cacheWidth();
        float scale = c.rope().attentionScale();
        boolean halves = cache.type() == KvCache.Type.F16;
        int threads = matmul.parallel().threads();
        int groups = Math.min(heads, Math.ceilDiv(threads, count)); // head groups per token
        int groupSize = Math.ceilDiv(heads, groups);
        int stride = s.scores[0].length / heads; // one context-length row of scores per head
        matmul.parallel().forRange(count * groups, 1, (worker, from, to) -> {
            float[] scores = s.scores[worker];
            float[] query = s.query[worker];
            float[] row = s.row[worker];
            for (int item = from; item < to; item++) {
                int i = s.blocks.singles[item / groups];
                int first = item % groups * groupSize;
                int last = Math.min(heads, first + groupSize);
                int slot = batch.sequence(i);
                int length = batch.position(i) + 1;
                for (int h = first; h < last; h++) {
                    queryRow(s, i, h, query, (h - first) * width, halves);
                }
                for (int t = 0; t < length; t++) {
                    cache.readKey(layer, slot, t, 0, row, width);
                    for (int h = first; h < last; h++) {
                        scores[(h - first) * stride + t] = VectorMath.dot(query, (h - first) * width, row, 0, width) * scale;
                    }
                }
                for (int h = first; h < last; h++) {
                    AttentionBlocks.softmax(scores, (h - first) * stride, length, halves);
                    Arrays.fill(s.latent[h].values(), i * rank, (i + 1) * rank, 0f);
                }
                for (int t = 0; t < length; t++) {
                    cache.readKey(layer, slot, t, 0, row, rank);
                    for (int h = first; h < last; h++) {
                        VectorMath.addScaled(scores[(h - first) * stride + t], row, 0, s.latent[h].values(), i * rank, rank);
                    }
                }
            }
        });
    }

    /**
     * The attention of runs of a sequence's tokens, in blocks of a few consecutive tokens with all
     * their heads (queries token-major), as {@link AttentionBlocks} describes: the scores of a
     * block against every key it sees from one tiled product a block of keys at a time, then the
     * latent outputs from a second one over the same rows.
     */
    private void attendBlocks(Batch batch, KvCache cache, int layer, Scratch s, int count) {
        DeepSeek2Config c = config;
        int heads = c.heads();
        int rank = c.kvLoraRank();
        int width = c.cacheWidth();
        float scale = c.rope().attentionScale();
        boolean halves = cache.type() == KvCache.Type.F16;
        AttentionBlocks plan = s.blocks;
        matmul.parallel().forRange(count, 1, (worker, from, to) -> {
            for (int item = from; item < to; item++) {
                int b = count - 1 - item;
                int first = plan.blockFirst[b];
                int tokens = plan.blockTokens[b];
                int rows = tokens * heads;
                int slot = batch.sequence(first);
                int length = batch.position(first + tokens - 1) + 1; // the keys the last token sees
                float[] query = plan.queries(worker, rows * width);
                float[] keys = plan.keys(worker, AttentionBlocks.KEY_BLOCK * width);
                float[] scores = plan.scores(worker, rows * length);
                float[] out = plan.out(worker, rows * rank);
                for (int u = 0; u < tokens; u++) {
                    for (int h = 0; h < heads; h++) {
                        queryRow(s, first + u, h, query, (u * heads + h) * width, halves);
                    }
                }
                for (int t = 0; t < length; t += AttentionBlocks.KEY_BLOCK) {
                    int m = Math.min(AttentionBlocks.KEY_BLOCK, length - t);
                    cache.readKeys(layer, slot, t, m, keys);
                    FloatTiles.products(query, 0, width, rows, keys, 0, width, m, width, scores, t, length);
                }
                for (int u = 0; u < tokens; u++) {
                    int seen = batch.position(first + u) + 1;
                    AttentionBlocks.weights(scores, u * heads * length, heads, length, seen, scale, halves);
                }
                Arrays.fill(out, 0, rows * rank, 0f);
                for (int t = 0; t < length; t += AttentionBlocks.KEY_BLOCK) { // the values: the rows' latent part
                    int m = Math.min(AttentionBlocks.KEY_BLOCK, length - t);
                    cache.readKeys(layer, slot, t, m, keys);
                    FloatTiles.weightedSums(scores, t, length, rows, keys, 0, width, m, rank, out, 0, rank);
                }
                for (int u = 0; u < tokens; u++) {
                    for (int h = 0; h < heads; h++) {
                        System.arraycopy(out, (u * heads + h) * rank, s.latent[h].values(), (first + u) * rank, rank);
                    }
                }
            }
        });
    }

    /** Token i's query for head h against the cached rows, [absorbed q_nope ; q_rope], into {@code query} at {@code at}. */
    private void queryRow(Scratch s, int i, int h, float[] query, int at, boolean halves) {
        DeepSeek2Config c = config;
        int rank = c.kvLoraRank();
        System.arraycopy(s.qAbsorbed[h], i * rank, query, at, rank);
        System.arraycopy(s.q, (i * c.heads() + h) * c.keyDim() + c.nopeDim(), query, at + rank, c.ropeDim());
        if (halves) {
            for (int d = at; d < at + c.cacheWidth(); d++) {
                query[d] = Float.float16ToFloat(Float.floatToFloat16(query[d]));
            }
        }
    }

    /**
     * out = Wdown (silu(Wgate x) ⊙ Wup x) for every row of x, through {@code hidden} (as wide as
     * Wdown's input): the dense layers and the shared experts.
     */
    private void feedForward(Activations x, Matrix[] gateUp, Matrix down, Activations hidden, float[] out, Scratch s) {
        int n = x.rows();
        matmul.multiply(x, gateUp, s.gateUp);
        VectorMath.swiglu(s.gate, s.up, hidden.values(), n * down.cols());
        hidden.update(n);
        matmul.multiply(down, hidden, out);
    }

    /**
     * The MoE feed-forward of the normed input into {@code s.projected}: each token's top experts
     * by router score, weighted, plus the shared experts. Tokens are grouped per expert, so that
     * each selected expert's weights are read once for the whole batch; the experts that only a
     * few tokens chose (all of them, when generating) run together, in one pass over their weights.
     */
    private void experts(Layer layer, Scratch s, int n) {
        DeepSeek2Config c = config;
        int dim = c.dim();
        int used = c.expertsUsed();
        matmul.multiply(layer.router, s.normed, s.routerLogits);
        Arrays.fill(s.expertCounts, 0);
        for (int i = 0; i < n; i++) {
            route(s.routerLogits, i * c.experts(), layer.routerBias, s, i * used);
            for (int k = 0; k < used; k++) {
                s.expertCounts[s.selected[i * used + k]]++;
            }
        }
        int few = 0;
        for (int e = 0; e < c.experts(); e++) {
            int count = s.expertCounts[e];
            if (count == 0) {
                continue;
            }
            ExpertBuffers b = count >= MatMul.TILED_MIN_TOKENS ? s.large : s.small[few++];
            gather(e, b, s, n);
            if (b == s.large) {
                runExperts(layer, new ExpertBuffers[] {b}, 1, s);
            }
        }
        if (few > 0) {
            runExperts(layer, s.small, few, s);
        }
        float[] shared = s.sharedOut;
        feedForward(s.normed, layer.gateUp, layer.down, s.sharedHidden, shared, s);
        // Summed as llama.cpp does: the experts in the order of selection, then the shared ones.
        for (int i = 0; i < n; i++) {
            for (int d = 0; d < dim; d++) {
                float sum = s.expertResults[i * used * dim + d];
                for (int k = 1; k < used; k++) {
                    sum += s.expertResults[(i * used + k) * dim + d];
                }
                s.projected[i * dim + d] = sum + shared[i * dim + d];
            }
        }
    }

    /** Copies the normed inputs of the tokens that chose expert {@code e} into {@code b}. */
    private void gather(int e, ExpertBuffers b, Scratch s, int n) {
        int dim = config.dim();
        int count = 0;
        for (int j = 0; j < n * config.expertsUsed(); j++) {
            if (s.selected[j] == e) {
                b.slots[count] = j;
                System.arraycopy(s.normed.values(), j / config.expertsUsed() * dim, b.in.values(), count * dim, dim);
                count++;
            }
        }
        b.expert = e;
        b.in.update(count);
    }

    /**
     * Runs the experts of {@code bs[0..m)} on their gathered inputs, in one pass for the gate and
     * up projections and one for the down projections, and puts each result, times its routing
     * weight, in its token's slot of {@code s.expertResults}.
     */
    private void runExperts(Layer layer, ExpertBuffers[] bs, int m, Scratch s) {
        int dim = config.dim();
        int ffn = config.expertFfnDim();
        Activations[] ins = new Activations[2 * m];
        Matrix[] gateUp = new Matrix[2 * m];
        float[][] gateUpOut = new float[2 * m][];
        Activations[] hidden = new Activations[m];
        Matrix[] down = new Matrix[m];
        float[][] downOut = new float[m][];
        for (int k = 0; k < m; k++) {
            ExpertBuffers b = bs[k];
            ins[2 * k] = b.in;
            ins[2 * k + 1] = b.in;
            gateUp[2 * k] = layer.expertGateUp[b.expert][0];
            gateUp[2 * k + 1] = layer.expertGateUp[b.expert][1];
            gateUpOut[2 * k] = b.gate;
            gateUpOut[2 * k + 1] = b.up;
            hidden[k] = b.hidden;
            down[k] = layer.expertDown[b.expert];
            downOut[k] = b.out;
        }
        matmul.multiply(ins, gateUp, gateUpOut);
        for (int k = 0; k < m; k++) {
            ExpertBuffers b = bs[k];
            VectorMath.swiglu(b.gate, b.up, b.hidden.values(), b.in.rows() * ffn);
            b.hidden.update(b.in.rows());
        }
        matmul.multiply(hidden, down, downOut);
        for (int k = 0; k < m; k++) {
            ExpertBuffers b = bs[k];
            for (int r = 0; r < b.in.rows(); r++) {
                int j = b.slots[r];
                float w = s.weights[j];
                for (int d = 0; d < dim; d++) {
                    s.expertResults[j * dim + d] = b.out[r * dim + d] * w;
                }
            }
        }
    }

    /**
     * Picks a token's experts from its router logits at {@code offset}: scores by softmax (V2) or
     * sigmoid (V3); selection by score plus the balancing bias, within the best groups when
     * routing is group-limited (a group ranks by the sum of its two best, or by its best); the k best, in
     * descending order, into {@code s.selected} from {@code out}; their unbiased scores,
     * normalised and scaled as configured, into {@code s.weights}.
     */
    private void route(float[] logits, int offset, float[] bias, Scratch s, int out) {
        DeepSeek2Config c = config;
        int experts = c.experts();
        float[] scores = s.routeScores;
        float[] selection = s.routeSelection;
        int[] selected = s.selected;
        float[] weights = s.weights;
        System.arraycopy(logits, offset, scores, 0, experts);
        if (c.sigmoidGating()) {
            for (int e = 0; e < experts; e++) {
                scores[e] = 1f / (1f + (float) Math.exp(-scores[e]));
            }
        } else {
            VectorMath.softmax(scores, 0, experts);
        }
        for (int e = 0; e < experts; e++) {
            selection[e] = bias == null ? scores[e] : scores[e] + bias[e];
        }
        if (c.groups() > 0) {
            int size = experts / c.groups();
            float[] groupScores = s.groupScores;
            for (int g = 0; g < c.groups(); g++) {
                float best = Float.NEGATIVE_INFINITY;
                float second = Float.NEGATIVE_INFINITY;
                for (int e = g * size; e < (g + 1) * size; e++) {
                    if (selection[e] > best) {
                        second = best;
                        best = selection[e];
                    } else if (selection[e] > second) {
                        second = selection[e];
                    }
                }
                groupScores[g] = c.groupRankByMax() ? best : best + second;
            }
            boolean[] kept = s.groupKept;
            Arrays.fill(kept, false);
            for (int k = 0; k < c.groupsUsed(); k++) {
                int g = argmax(groupScores);
                kept[g] = true;
                groupScores[g] = Float.NEGATIVE_INFINITY;
            }
            for (int e = 0; e < experts; e++) {
                if (!kept[e / size]) {
                    selection[e] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        float sum = 0;
        for (int k = 0; k < c.expertsUsed(); k++) {
            int e = argmax(selection);
            selection[e] = Float.NEGATIVE_INFINITY;
            selected[out + k] = e;
            weights[out + k] = scores[e];
            sum += scores[e];
        }
        if (c.normalizeExpertWeights()) {
            float divisor = Math.max(sum, 6.103515625e-5f); // llama.cpp's clamp: the smallest normal f16
            for (int k = 0; k < c.expertsUsed(); k++) {
                weights[out + k] /= divisor;
            }
        }
        if (c.expertWeightsScale() != 1f) {
            for (int k = 0; k < c.expertsUsed(); k++) {
                weights[out + k] *= c.expertWeightsScale();
            }
        }
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }
}
