package dev.fathom.train.rl;

import dev.fathom.tensor.kernel.VectorMath;

/**
 * The arithmetic of GRPO (DeepSeekMath, R1) and of the variants that followed: group-normalised
 * advantages, per-token weights, and one token's loss with its gradient with respect to the
 * logits, which is all a trainer needs besides its own backward pass.
 *
 * <p>For a token o of an output with advantage Â, probability ratio ρ = π_θ(o) / π_old(o) and,
 * with a reference model, k3's D = π_ref/π_θ − log(π_ref/π_θ) − 1, the loss is
 * L = −w·[min(ρÂ, clip(ρ, 1−ε_low, 1+ε_high)·Â) − β·D], and since ∂log π_θ(o)/∂z = onehot − softmax,
 * ∂L/∂z = c·(softmax − onehot) with c = w·[Â·ρ·1(the unclipped term is the smaller) − β·(1 − π_ref/π_θ)].
 * (spec/training.md writes c with the opposite sign; finite differences, in the tests, side with this one.)
 */
public final class Grpo {
    /** How advantages are normalised and tokens weighted. */
    public enum Variant {
        /** DeepSeekMath's GRPO: (r − mean)/std, each output's tokens averaged (1/(G·|o_i|)). */
        GRPO,
        /** DAPO: as GRPO, but every token of the group weighs the same (1/Σ|o_i|). */
        DAPO,
        /** Dr. GRPO: r − mean without the std, weights 1/(G·L_max). */
        DR_GRPO
    }

    private Grpo() {
    }

    /** The advantage of each output of a group from its reward; a group whose rewards are all equal teaches nothing (0). */
    public static double[] advantages(double[] rewards, Variant variant) {
        int g = rewards.length;
        double mean = 0;
        for (double r : rewards) {
            mean += r / g;
        }
        double variance = 0;
        for (double r : rewards) {
            variance += (r - mean) * (r - mean) / Math.max(1, g - 1);
        }
        double std = Math.sqrt(variance);
        double[] out = new double[g];
        for (int i = 0; i < g; i++) {
            double centred = rewards[i] - mean;
            out[i] = variant == Variant.DR_GRPO ? centred : std < 1e-9 ? 0 : centred / std;
        }
        return out;
    }

    /** The weight of each token of an output of {@code length} tokens in a group of {@code lengths}. */
    public static double weight(Variant variant, int[] lengths, int length) {
        int g = lengths.length;
        return switch (variant) {
            case GRPO -> 1.0 / (g * Math.max(1, length));
            case DAPO -> {
                long total = 0;
                for (int l : lengths) {
                    total += l;
                }
                yield 1.0 / Math.max(1, total);
            }
            case DR_GRPO -> {
                int max = 1;
                for (int l : lengths) {
                    max = Math.max(max, l);
                }
                yield 1.0 / ((double) g * max);
            }
        };
    }

    /** The clipping range of the ratio: (1 − low, 1 + high); DAPO raises the upper one (0.2, 0.28). */
    public record Clip(double low, double high) {
        public static final Clip GRPO = new Clip(0.2, 0.2);
        public static final Clip DAPO = new Clip(0.2, 0.28);
    }

    /**
     * One token's loss and the factor c of its gradient with respect to the logits,
     * {@code c · (softmax − onehot(token))}: {@code c = weight · (A·ρ (where the clip lets it through) − β·(1 − π_ref/π_θ))}.
     */
    public record TokenTerm(double loss, double coefficient) {
    }

    /**
     * One token's term of the loss from its log-probabilities under the current, the sampling and
     * the reference policy.
     *
     * @param weight the token's normalisation weight ({@link #weight})
     */
    public static TokenTerm term(double logprob, double oldLogprob, double refLogprob, double advantage, Clip clip,
            double beta, double weight) {
        double ratio = Math.exp(logprob - oldLogprob);
        double unclipped = ratio * advantage;
        double clipped = Math.clamp(ratio, 1 - clip.low(), 1 + clip.high()) * advantage;
        boolean flows = unclipped <= clipped;
        double surrogate = Math.min(unclipped, clipped);
        double kl = 0;
        double klSlope = 0;
        if (beta != 0) {
            double refOverTheta = Math.exp(refLogprob - logprob);
            kl = refOverTheta - (refLogprob - logprob) - 1;
            klSlope = 1 - refOverTheta;
        }
        return new TokenTerm(-weight * (surrogate - beta * kl), weight * ((flows ? advantage * ratio : 0) - beta * klSlope));
    }

    /**
     * One token's loss, with its gradient with respect to {@code logits[offset, offset + vocab)}
     * added into {@code grad} from {@code gradOffset}.
     *
     * @param oldLogprob log π_old of the token (the policy that sampled it)
     * @param refLogprob log π_ref of the token; ignored when {@code beta} is 0
     * @param weight the token's normalisation weight ({@link #weight})
     */
    public static double tokenLoss(float[] logits, int offset, int vocab, int token, double oldLogprob, double refLogprob,
            double advantage, Clip clip, double beta, double weight, float[] grad, int gradOffset) {
        double logSum = VectorMath.logSumExp(logits, offset, vocab);
        TokenTerm term = term(logits[offset + token] - logSum, oldLogprob, refLogprob, advantage, clip, beta, weight);
        for (int i = 0; i < vocab; i++) {
            double p = Math.exp(logits[offset + i] - logSum);
            grad[gradOffset + i] += (float) (term.coefficient() * (p - (i == token ? 1 : 0)));
        }
        return term.loss();
    }
}
