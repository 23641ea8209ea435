package dev.fathom.train.model;

import static dev.fathom.train.model.Layers.matmul;
import static dev.fathom.train.model.Layers.matmulBackward;
import static dev.fathom.train.model.Layers.rmsNorm;
import static dev.fathom.train.model.Layers.rmsNormBackward;

import dev.fathom.tensor.Parallel;
import java.util.Arrays;

/**
 * A miniature DeepSeek-V3 for training: the forward pass over a batch of sequences, keeping
 * what the backward pass needs, and the backward pass written out layer by layer (as llm.c
 * does), adding to one gradient buffer of the parameters' layout.
 *
 * <pre>
 * x = embed(tokens)
 * per block:  h = rmsnorm(x)
 *             q = Wqb · rmsnorm(Wqa h)            per head [q_nope ; q_rope], q_rope rotated
 *             [c ; k_rope] = Wkva h;  c = rmsnorm(c);  k_rope rotated, shared by the heads
 *             [k_nope ; v] = Wkvb c                per head
 *             x += Wo · attention([q_nope ; q_rope], [k_nope ; k_rope], v)
 *             h = rmsnorm(x)
 *             x += dense SwiGLU(h)   or   shared SwiGLU(h) + Σ_top-k g_e · expert_e(h)
 * logits = Wout · rmsnorm(x)
 * </pre>
 *
 * Routing: gates s = sigmoid(Wr h); the k experts with the highest s + b (the balancing bias, not
 * trained by gradient but nudged towards even load after each step, DeepSeek-V3's
 * auxiliary-loss-free balancing); weights g = s / Σ s over the chosen.
 */
public final class MiniDeepSeek {
    private final ModelConfig c;
    private final Parameters parameters;
    private final Parameters gradients;
    private final double[][] balance; // per MoE layer, the routing bias of each expert
    private final Parallel parallel;

    // The last forward pass.
    private int sequences;
    private int length;
    private int[] inputs;
    private Block[] blocks;
    private double[] finalInput;
    private double[] finalNorm;
    private double[] finalRstd;
    private double[] logits;
    private boolean frozenRouting;

    /** What one block's forward pass keeps for its backward pass. */
    private static final class Block {
        double[] x; // the block's input (residual stream)
        double[] h1, rstd1, qa, qaNorm, rstdQ, q, latent, latentNorm, rstdKv, kRope, keys, values, probs, attention;
        double[] x2, h2, rstd2;
        // dense feed-forward, or the shared expert
        double[] gate, up, act;
        // routing
        double[] scores; // sigmoid gates, tokens × experts
        int[] chosen; // tokens × expertsUsed
        double[] weights; // tokens × expertsUsed
        int[][] tokensOf; // per expert, the tokens routed to it
        int[][] slotOf; // per expert, each token's slot among its chosen
        double[][] expertIn, expertGate, expertUp, expertAct, expertOut;
    }

    public MiniDeepSeek(ModelConfig config, Parameters parameters, Parallel parallel) {
        this.c = config;
        this.parameters = parameters;
        this.gradients = parameters.zerosLike();
        this.parallel = parallel;
        this.balance = new double[config.layers()][];
        for (int l = 0; l < config.layers(); l++) {
            balance[l] = config.moe(l) ? new double[config.experts()] : null;
        }
    }

    public ModelConfig config() {
        return c;
    }

    public Parameters parameters() {
        return parameters;
    }

    public Parameters gradients() {
        return gradients;
    }

    /** Layer {@code l}'s routing bias (null for a dense layer): exported as {@code exp_probs_b.bias}. */
    public double[] balance(int l) {
        return balance[l];
    }

    /**
     * Keeps each token's chosen experts from the last forward pass for the next ones (for
     * gradient checks, where a perturbation must not flip a choice), or lets them be chosen again.
     */
    public void freezeRouting(boolean frozen) {
        this.frozenRouting = frozen;
    }

    /**
     * The forward pass over {@code sequences} rows of {@code length} tokens each (position 0 at
     * each row's start); returns the logits, one row of the vocabulary per token.
     */
    public double[] forward(int[] tokens, int sequences, int length) {
        if (tokens.length != sequences * length || length > c.context()) {
            throw new IllegalArgumentException(tokens.length + " tokens are not " + sequences + " rows of " + length
                    + " (at most " + c.context() + ")");
        }
        Block[] previous = blocks;
        this.sequences = sequences;
        this.length = length;
        this.inputs = tokens.clone();
        int n = tokens.length;
        int dim = c.dim();
        double[] w = parameters.values();
        double[] x = new double[n * dim];
        int embedding = parameters.at("token_embd.weight");
        for (int t = 0; t < n; t++) {
            System.arraycopy(w, embedding + tokens[t] * dim, x, t * dim, dim);
        }
        blocks = new Block[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            Block b = new Block();
            if (frozenRouting && previous != null) {
                b.chosen = previous[l].chosen;
            }
            blocks[l] = b;
            x = block(l, b, x);
        }
        finalInput = x;
        finalNorm = new double[n * dim];
        finalRstd = new double[n];
        rmsNorm(parallel, finalNorm, x, n, dim, w, parameters.at("output_norm.weight"), finalRstd);
        logits = new double[n * c.vocabulary()];
        matmul(parallel, logits, finalNorm, n, dim, w, parameters.at("output.weight"), c.vocabulary());
        return logits;
    }

    private double[] block(int l, Block b, double[] x) {
        String p = "blk." + l + ".";
        double[] w = parameters.values();
        int n = x.length / c.dim();
        int dim = c.dim();
        int heads = c.heads();
        int keyDim = c.keyDim();
        int rank = c.latentRank();
        b.x = x;
        b.h1 = new double[n * dim];
        b.rstd1 = new double[n];
        rmsNorm(parallel, b.h1, x, n, dim, w, parameters.at(p + "attn_norm.weight"), b.rstd1);

        b.qa = new double[n * c.queryRank()];
        matmul(parallel, b.qa, b.h1, n, dim, w, parameters.at(p + "attn_q_a.weight"), c.queryRank());
        b.qaNorm = new double[b.qa.length];
        b.rstdQ = new double[n];
        rmsNorm(parallel, b.qaNorm, b.qa, n, c.queryRank(), w, parameters.at(p + "attn_q_a_norm.weight"), b.rstdQ);
        b.q = new double[n * heads * keyDim];
        matmul(parallel, b.q, b.qaNorm, n, c.queryRank(), w, parameters.at(p + "attn_q_b.weight"), heads * keyDim);
        int[] positions = positions();
        Layers.rope(b.q, n, heads * keyDim, c.nopeDim(), heads, keyDim, c.ropeDim(), positions, c.ropeBase(), 1);

        double[] kva = new double[n * (rank + c.ropeDim())];
        matmul(parallel, kva, b.h1, n, dim, w, parameters.at(p + "attn_kv_a_mqa.weight"), rank + c.ropeDim());
        b.latent = new double[n * rank];
        b.kRope = new double[n * c.ropeDim()];
        for (int t = 0; t < n; t++) {
            System.arraycopy(kva, t * (rank + c.ropeDim()), b.latent, t * rank, rank);
            System.arraycopy(kva, t * (rank + c.ropeDim()) + rank, b.kRope, t * c.ropeDim(), c.ropeDim());
        }
        Layers.rope(b.kRope, n, c.ropeDim(), 0, 1, c.ropeDim(), c.ropeDim(), positions, c.ropeBase(), 1);
        b.latentNorm = new double[n * rank];
        b.rstdKv = new double[n];
        rmsNorm(parallel, b.latentNorm, b.latent, n, rank, w, parameters.at(p + "attn_kv_a_norm.weight"), b.rstdKv);
        int kvWidth = c.nopeDim() + c.valueDim();
        double[] kv = new double[n * heads * kvWidth];
        matmul(parallel, kv, b.latentNorm, n, rank, w, parameters.at(p + "attn_kv_b.weight"), heads * kvWidth);
        b.keys = new double[n * heads * keyDim];
        b.values = new double[n * heads * c.valueDim()];
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                int from = (t * heads + h) * kvWidth;
                int key = (t * heads + h) * keyDim;
                System.arraycopy(kv, from, b.keys, key, c.nopeDim());
                System.arraycopy(b.kRope, t * c.ropeDim(), b.keys, key + c.nopeDim(), c.ropeDim());
                System.arraycopy(kv, from + c.nopeDim(), b.values, (t * heads + h) * c.valueDim(), c.valueDim());
            }
        }
        b.attention = new double[n * heads * c.valueDim()];
        b.probs = new double[sequences * heads * length * length];
        Layers.attention(parallel, b.attention, b.q, b.keys, b.values, b.probs, sequences, length, heads, keyDim,
                c.valueDim(), c.attentionScale());
        double[] projected = new double[n * dim];
        matmul(parallel, projected, b.attention, n, heads * c.valueDim(), w, parameters.at(p + "attn_output.weight"), dim);
        b.x2 = new double[n * dim];
        for (int i = 0; i < b.x2.length; i++) {
            b.x2[i] = x[i] + projected[i];
        }

        b.h2 = new double[n * dim];
        b.rstd2 = new double[n];
        rmsNorm(parallel, b.h2, b.x2, n, dim, w, parameters.at(p + "ffn_norm.weight"), b.rstd2);
        double[] out = b.x2.clone();
        if (c.moe(l)) {
            swiglu(b, p + "ffn_gate_shexp.weight", p + "ffn_up_shexp.weight", p + "ffn_down_shexp.weight", c.expertFfn(), out);
            experts(l, b, out);
        } else {
            swiglu(b, p + "ffn_gate.weight", p + "ffn_up.weight", p + "ffn_down.weight", c.denseFfn(), out);
        }
        return out;
    }

    /** The dense feed-forward (or the shared expert) of h2, added to {@code out}. */
    private void swiglu(Block b, String gate, String up, String down, int hidden, double[] out) {
        double[] w = parameters.values();
        int n = b.h2.length / c.dim();
        b.gate = new double[n * hidden];
        b.up = new double[n * hidden];
        b.act = new double[n * hidden];
        matmul(parallel, b.gate, b.h2, n, c.dim(), w, parameters.at(gate), hidden);
        matmul(parallel, b.up, b.h2, n, c.dim(), w, parameters.at(up), hidden);
        Layers.swiglu(parallel, b.act, b.gate, b.up, b.act.length);
        double[] y = new double[n * c.dim()];
        matmul(parallel, y, b.act, n, hidden, w, parameters.at(down), c.dim());
        for (int i = 0; i < y.length; i++) {
            out[i] += y[i];
        }
    }

    /** Routes each token of h2 to its experts and adds their weighted outputs to {@code out}. */
    private void experts(int l, Block b, double[] out) {
        String p = "blk." + l + ".";
        double[] w = parameters.values();
        int n = b.h2.length / c.dim();
        int dim = c.dim();
        int e = c.experts();
        int k = c.expertsUsed();
        double[] logits = new double[n * e];
        matmul(parallel, logits, b.h2, n, dim, w, parameters.at(p + "ffn_gate_inp.weight"), e);
        b.scores = new double[n * e];
        for (int i = 0; i < logits.length; i++) {
            b.scores[i] = 1 / (1 + Math.exp(-logits[i]));
        }
        if (b.chosen == null) {
            b.chosen = choose(b.scores, balance[l], n);
        }
        b.weights = new double[n * k];
        int[] counts = new int[e];
        for (int t = 0; t < n; t++) {
            double sum = 0;
            for (int j = 0; j < k; j++) {
                sum += b.scores[t * e + b.chosen[t * k + j]];
            }
            for (int j = 0; j < k; j++) {
                b.weights[t * k + j] = b.scores[t * e + b.chosen[t * k + j]] / sum;
                counts[b.chosen[t * k + j]]++;
            }
        }
        b.tokensOf = new int[e][];
        b.slotOf = new int[e][];
        for (int x = 0; x < e; x++) {
            b.tokensOf[x] = new int[counts[x]];
            b.slotOf[x] = new int[counts[x]];
        }
        int[] filled = new int[e];
        for (int t = 0; t < n; t++) {
            for (int j = 0; j < k; j++) {
                int x = b.chosen[t * k + j];
                b.tokensOf[x][filled[x]] = t;
                b.slotOf[x][filled[x]++] = j;
            }
        }
        int hidden = c.expertFfn();
        var gates = parameters.tensor(p + "ffn_gate_exps.weight");
        var ups = parameters.tensor(p + "ffn_up_exps.weight");
        var downs = parameters.tensor(p + "ffn_down_exps.weight");
        b.expertIn = new double[e][];
        b.expertGate = new double[e][];
        b.expertUp = new double[e][];
        b.expertAct = new double[e][];
        b.expertOut = new double[e][];
        for (int x = 0; x < e; x++) {
            int m = counts[x];
            double[] in = new double[m * dim];
            for (int i = 0; i < m; i++) {
                System.arraycopy(b.h2, b.tokensOf[x][i] * dim, in, i * dim, dim);
            }
            double[] gate = new double[m * hidden];
            double[] up = new double[m * hidden];
            double[] act = new double[m * hidden];
            double[] y = new double[m * dim];
            matmul(parallel, gate, in, m, dim, w, gates.offset(x), hidden);
            matmul(parallel, up, in, m, dim, w, ups.offset(x), hidden);
            Layers.swiglu(parallel, act, gate, up, act.length);
            matmul(parallel, y, act, m, hidden, w, downs.offset(x), dim);
            int expert = x;
            parallel.forRange(m, 64, (worker, from, to) -> { // an expert's tokens are distinct rows of out
                for (int i = from; i < to; i++) {
                    int t = b.tokensOf[expert][i];
                    Layers.axpy(b.weights[t * k + b.slotOf[expert][i]], y, i * dim, out, t * dim, dim);
                }
            });
            b.expertIn[x] = in;
            b.expertGate[x] = gate;
            b.expertUp[x] = up;
            b.expertAct[x] = act;
            b.expertOut[x] = y;
        }
    }

    /** Each token's k experts: the highest gate plus bias, ties to the lower index. */
    private int[] choose(double[] scores, double[] bias, int n) {
        int e = c.experts();
        int k = c.expertsUsed();
        int[] chosen = new int[n * k];
        boolean[] taken = new boolean[e];
        for (int t = 0; t < n; t++) {
            Arrays.fill(taken, false);
            for (int j = 0; j < k; j++) {
                int best = -1;
                for (int x = 0; x < e; x++) {
                    if (!taken[x] && (best < 0 || scores[t * e + x] + bias[x] > scores[t * e + best] + bias[best])) {
                        best = x;
                    }
                }
                taken[best] = true;
                chosen[t * k + j] = best;
            }
        }
        return chosen;
    }

    private int[] positions() {
        int[] positions = new int[sequences * length];
        for (int i = 0; i < positions.length; i++) {
            positions[i] = i % length;
        }
        return positions;
    }

    /**
     * The backward pass of the last forward pass for a loss whose gradient with respect to token
     * t's logits is {@code coefficients[t] · (softmax(logits[t]) − onehot(targets[t]))}: cross-entropy
     * with per-token weights, or GRPO's per-token factors. Adds to {@link #gradients()}.
     */
    public void backward(int[] targets, double[] coefficients) {
        int n = inputs.length;
        int dim = c.dim();
        int vocabulary = c.vocabulary();
        double[] w = parameters.values();
        double[] g = gradients.values();
        double[] dlogits = new double[n * vocabulary];
        parallel.forRange(n, 8, (worker, from, to) -> {
            for (int t = from; t < to; t++) {
                if (coefficients[t] == 0) {
                    continue;
                }
                int row = t * vocabulary;
                double logSum = logSumExp(row);
                for (int v = 0; v < vocabulary; v++) {
                    double p = Math.exp(logits[row + v] - logSum);
                    dlogits[row + v] = coefficients[t] * (p - (v == targets[t] ? 1 : 0));
                }
            }
        });
        double[] dnorm = new double[n * dim];
        matmulBackward(parallel, dlogits, finalNorm, n, dim, w, parameters.at("output.weight"), vocabulary, dnorm, g,
                gradients.at("output.weight"));
        double[] dx = new double[n * dim];
        rmsNormBackward(parallel, dnorm, finalInput, n, dim, w, parameters.at("output_norm.weight"), finalRstd, dx, g,
                gradients.at("output_norm.weight"));
        for (int l = c.layers() - 1; l >= 0; l--) {
            dx = blockBackward(l, blocks[l], dx);
        }
        int embedding = gradients.at("token_embd.weight");
        for (int t = 0; t < n; t++) {
            Layers.axpy(1, dx, t * dim, g, embedding + inputs[t] * dim, dim);
        }
    }

    /** Block l's backward pass, from the gradient at its output to the gradient at its input. */
    private double[] blockBackward(int l, Block b, double[] dout) {
        String p = "blk." + l + ".";
        double[] w = parameters.values();
        double[] g = gradients.values();
        int n = dout.length / c.dim();
        int dim = c.dim();
        int heads = c.heads();
        int keyDim = c.keyDim();
        int rank = c.latentRank();

        // Feed-forward: out = x2 + ffn(h2).
        double[] dh2 = new double[n * dim];
        if (c.moe(l)) {
            swigluBackward(b, dout, p + "ffn_gate_shexp.weight", p + "ffn_up_shexp.weight", p + "ffn_down_shexp.weight",
                    c.expertFfn(), dh2);
            expertsBackward(l, b, dout, dh2);
        } else {
            swigluBackward(b, dout, p + "ffn_gate.weight", p + "ffn_up.weight", p + "ffn_down.weight", c.denseFfn(), dh2);
        }
        double[] dx2 = dout.clone();
        rmsNormBackward(parallel, dh2, b.x2, n, dim, w, parameters.at(p + "ffn_norm.weight"), b.rstd2, dx2, g,
                gradients.at(p + "ffn_norm.weight"));

        // Attention: x2 = x + Wo · attention.
        double[] dattention = new double[b.attention.length];
        matmulBackward(parallel, dx2, b.attention, n, heads * c.valueDim(), w, parameters.at(p + "attn_output.weight"),
                dim, dattention, g, gradients.at(p + "attn_output.weight"));
        double[] dq = new double[b.q.length];
        double[] dkeys = new double[b.keys.length];
        double[] dvalues = new double[b.values.length];
        Layers.attentionBackward(parallel, dattention, b.q, b.keys, b.values, b.probs, sequences, length, heads, keyDim,
                c.valueDim(), c.attentionScale(), dq, dkeys, dvalues);
        int kvWidth = c.nopeDim() + c.valueDim();
        double[] dkv = new double[n * heads * kvWidth];
        double[] dkRope = new double[n * c.ropeDim()];
        for (int t = 0; t < n; t++) {
            for (int h = 0; h < heads; h++) {
                int to = (t * heads + h) * kvWidth;
                int key = (t * heads + h) * keyDim;
                System.arraycopy(dkeys, key, dkv, to, c.nopeDim());
                Layers.axpy(1, dkeys, key + c.nopeDim(), dkRope, t * c.ropeDim(), c.ropeDim());
                System.arraycopy(dvalues, (t * heads + h) * c.valueDim(), dkv, to + c.nopeDim(), c.valueDim());
            }
        }
        double[] dlatentNorm = new double[n * rank];
        matmulBackward(parallel, dkv, b.latentNorm, n, rank, w, parameters.at(p + "attn_kv_b.weight"), heads * kvWidth,
                dlatentNorm, g, gradients.at(p + "attn_kv_b.weight"));
        double[] dlatent = new double[n * rank];
        rmsNormBackward(parallel, dlatentNorm, b.latent, n, rank, w, parameters.at(p + "attn_kv_a_norm.weight"), b.rstdKv,
                dlatent, g, gradients.at(p + "attn_kv_a_norm.weight"));
        int[] positions = positions();
        Layers.rope(dkRope, n, c.ropeDim(), 0, 1, c.ropeDim(), c.ropeDim(), positions, c.ropeBase(), -1);
        double[] dkva = new double[n * (rank + c.ropeDim())];
        for (int t = 0; t < n; t++) {
            System.arraycopy(dlatent, t * rank, dkva, t * (rank + c.ropeDim()), rank);
            System.arraycopy(dkRope, t * c.ropeDim(), dkva, t * (rank + c.ropeDim()) + rank, c.ropeDim());
        }
        double[] dh1 = new double[n * dim];
        matmulBackward(parallel, dkva, b.h1, n, dim, w, parameters.at(p + "attn_kv_a_mqa.weight"), rank + c.ropeDim(),
                dh1, g, gradients.at(p + "attn_kv_a_mqa.weight"));
        Layers.rope(dq, n, heads * keyDim, c.nopeDim(), heads, keyDim, c.ropeDim(), positions, c.ropeBase(), -1);
        double[] dqaNorm = new double[b.qaNorm.length];
        matmulBackward(parallel, dq, b.qaNorm, n, c.queryRank(), w, parameters.at(p + "attn_q_b.weight"), heads * keyDim,
                dqaNorm, g, gradients.at(p + "attn_q_b.weight"));
        double[] dqa = new double[b.qa.length];
        rmsNormBackward(parallel, dqaNorm, b.qa, n, c.queryRank(), w, parameters.at(p + "attn_q_a_norm.weight"), b.rstdQ,
                dqa, g, gradients.at(p + "attn_q_a_norm.weight"));
        matmulBackward(parallel, dqa, b.h1, n, dim, w, parameters.at(p + "attn_q_a.weight"), c.queryRank(), dh1, g,
                gradients.at(p + "attn_q_a.weight"));
        double[] dx = dx2.clone();
        rmsNormBackward(parallel, dh1, b.x, n, dim, w, parameters.at(p + "attn_norm.weight"), b.rstd1, dx, g,
                gradients.at(p + "attn_norm.weight"));
        return dx;
    }

    private void swigluBackward(Block b, double[] dout, String gate, String up, String down, int hidden, double[] dh2) {
        double[] w = parameters.values();
        double[] g = gradients.values();
        int n = dout.length / c.dim();
        double[] dact = new double[n * hidden];
        matmulBackward(parallel, dout, b.act, n, hidden, w, parameters.at(down), c.dim(), dact, g, gradients.at(down));
        double[] dgate = new double[n * hidden];
        double[] dup = new double[n * hidden];
        Layers.swigluBackward(parallel, dact, b.gate, b.up, dact.length, dgate, dup);
        matmulBackward(parallel, dgate, b.h2, n, c.dim(), w, parameters.at(gate), hidden, dh2, g, gradients.at(gate));
        matmulBackward(parallel, dup, b.h2, n, c.dim(), w, parameters.at(up), hidden, dh2, g, gradients.at(up));
    }

    private void expertsBackward(int l, Block b, double[] dout, double[] dh2) {
        String p = "blk." + l + ".";
        double[] w = parameters.values();
        double[] g = gradients.values();
        int n = dout.length / c.dim();
        int dim = c.dim();
        int e = c.experts();
        int k = c.expertsUsed();
        int hidden = c.expertFfn();
        var gates = parameters.tensor(p + "ffn_gate_exps.weight");
        var ups = parameters.tensor(p + "ffn_up_exps.weight");
        var downs = parameters.tensor(p + "ffn_down_exps.weight");
        double[] dweights = new double[n * k];
        for (int x = 0; x < e; x++) {
            int m = b.tokensOf[x].length;
            double[] dy = new double[m * dim];
            int expert = x;
            parallel.forRange(m, 64, (worker, from, to) -> {
                for (int i = from; i < to; i++) {
                    int t = b.tokensOf[expert][i];
                    int slot = t * k + b.slotOf[expert][i];
                    Layers.axpy(b.weights[slot], dout, t * dim, dy, i * dim, dim);
                    dweights[slot] = Layers.dot(dout, t * dim, b.expertOut[expert], i * dim, dim);
                }
            });
            double[] dact = new double[m * hidden];
            matmulBackward(parallel, dy, b.expertAct[x], m, hidden, w, downs.offset(x), dim, dact, g,
                    gradients.tensor(downs.name()).offset(x));
            double[] dgate = new double[m * hidden];
            double[] dup = new double[m * hidden];
            Layers.swigluBackward(parallel, dact, b.expertGate[x], b.expertUp[x], dact.length, dgate, dup);
            double[] din = new double[m * dim];
            matmulBackward(parallel, dgate, b.expertIn[x], m, dim, w, gates.offset(x), hidden, din, g,
                    gradients.tensor(gates.name()).offset(x));
            matmulBackward(parallel, dup, b.expertIn[x], m, dim, w, ups.offset(x), hidden, din, g,
                    gradients.tensor(ups.name()).offset(x));
            parallel.forRange(m, 64, (worker, from, to) -> { // distinct rows of dh2
                for (int i = from; i < to; i++) {
                    Layers.axpy(1, din, i * dim, dh2, b.tokensOf[expert][i] * dim, dim);
                }
            });
        }
        // g_j = s_j / S over the chosen: ∂g_j/∂s_i = δ_ij / S − s_j / S²; s = sigmoid(logit).
        double[] dlogits = new double[n * e];
        for (int t = 0; t < n; t++) {
            double sum = 0;
            double weighted = 0;
            for (int j = 0; j < k; j++) {
                double s = b.scores[t * e + b.chosen[t * k + j]];
                sum += s;
                weighted += dweights[t * k + j] * s;
            }
            for (int j = 0; j < k; j++) {
                int x = b.chosen[t * k + j];
                double s = b.scores[t * e + x];
                double ds = dweights[t * k + j] / sum - weighted / (sum * sum);
                dlogits[t * e + x] = ds * s * (1 - s);
            }
        }
        matmulBackward(parallel, dlogits, b.h2, n, dim, w, parameters.at(p + "ffn_gate_inp.weight"), e, dh2, g,
                gradients.at(p + "ffn_gate_inp.weight"));
    }

    /**
     * DeepSeek-V3's auxiliary-loss-free balancing after a step: each routing bias moves by
     * {@code rate} towards even load (up for experts that got fewer tokens than the mean, down
     * for those that got more). Returns each MoE layer's largest load over the mean load.
     */
    public double[] balanceLoad(double rate) {
        double[] imbalance = new double[c.layers()];
        for (int l = 0; l < c.layers(); l++) {
            if (!c.moe(l)) {
                continue;
            }
            Block b = blocks[l];
            double mean = (double) b.chosen.length / c.experts();
            double max = 0;
            for (int x = 0; x < c.experts(); x++) {
                int load = b.tokensOf[x].length;
                balance[l][x] += rate * Math.signum(mean - load);
                max = Math.max(max, load / mean);
            }
            imbalance[l] = max;
        }
        return imbalance;
    }

    /** The log-probability of each position's {@code targets} token under the last forward pass's logits. */
    public double[] logProbabilities(int[] targets) {
        int vocabulary = c.vocabulary();
        double[] out = new double[targets.length];
        for (int t = 0; t < targets.length; t++) {
            out[t] = logits[t * vocabulary + targets[t]] - logSumExp(t * vocabulary);
        }
        return out;
    }

    /** log Σ exp over the logits of the row starting at {@code row}. */
    private double logSumExp(int row) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < c.vocabulary(); v++) {
            max = Math.max(max, logits[row + v]);
        }
        double sum = 0;
        for (int v = 0; v < c.vocabulary(); v++) {
            sum += Math.exp(logits[row + v] - max);
        }
        return max + Math.log(sum);
    }

    /** Sets every gradient to zero. */
    public void zeroGradients() {
        Arrays.fill(gradients.values(), 0);
    }

    /**
     * The mean cross-entropy of the last forward pass's logits against {@code targets}, over the
     * tokens with a weight (each counted by its weight), and the matching backward coefficients.
     */
    public double crossEntropy(int[] targets, double[] weights, double[] coefficients) {
        int vocabulary = c.vocabulary();
        double total = 0;
        double loss = 0;
        for (double x : weights) {
            total += x;
        }
        for (int t = 0; t < targets.length; t++) {
            coefficients[t] = total == 0 ? 0 : weights[t] / total;
            if (weights[t] == 0) {
                continue;
            }
            int row = t * vocabulary;
            loss += weights[t] * (logSumExp(row) - logits[row + targets[t]]);
        }
        return total == 0 ? 0 : loss / total;
    }
}
