package dev.fathom.train.rl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.fathom.train.rl.Grpo.Clip;
import dev.fathom.train.rl.Grpo.Variant;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GrpoTest {
    @Test
    void theGradientIsTheLossesSlopeInsideAndOutsideTheClipWithAndWithoutKl() {
        SplittableRandom random = new SplittableRandom(1);
        int vocab = 7;
        int checked = 0;
        for (int trial = 0; trial < 400; trial++) {
            float[] logits = new float[vocab];
            for (int i = 0; i < vocab; i++) {
                logits[i] = (float) random.nextGaussian() * 2;
            }
            int token = random.nextInt(vocab);
            // The old policy's log-probability a little off the current one, so that ratios land on both sides of the clip.
            double oldLogprob = logprob(logits, token) + random.nextGaussian() * 0.4;
            double refLogprob = logprob(logits, token) + random.nextGaussian() * 0.5;
            double advantage = random.nextGaussian();
            double beta = random.nextBoolean() ? 0 : 0.04;
            Clip clip = random.nextBoolean() ? Clip.GRPO : Clip.DAPO;
            float[] grad = new float[vocab];
            Grpo.tokenLoss(logits, 0, vocab, token, oldLogprob, refLogprob, advantage, clip, beta, 0.5, grad, 0);
            double ratio = Math.exp(logprob(logits, token) - oldLogprob);
            if (Math.abs(ratio - (1 - clip.low())) < 1e-3 || Math.abs(ratio - (1 + clip.high())) < 1e-3) {
                continue; // at the clip's edge the loss has a kink: no slope to compare with
            }
            for (int i = 0; i < vocab; i++) {
                double h = 1e-3;
                float[] up = logits.clone();
                float[] down = logits.clone();
                up[i] += (float) h;
                down[i] -= (float) h;
                double numeric = (loss(up, token, oldLogprob, refLogprob, advantage, clip, beta)
                        - loss(down, token, oldLogprob, refLogprob, advantage, clip, beta)) / (2 * h);
                assertThat((double) grad[i]).as("trial %d, logit %d", trial, i).isCloseTo(numeric, within(2e-3));
            }
            checked++;
        }
        assertThat(checked).isGreaterThan(350);
    }

    @Test
    void onPolicyWithAPositiveAdvantageTheGradientRaisesTheTokenAsCrossEntropyDoes() {
        float[] logits = {0.5f, -1f, 2f};
        float[] grad = new float[3];
        double old = logprob(logits, 1);
        Grpo.tokenLoss(logits, 0, 3, 1, old, 0, 1.0, Clip.GRPO, 0, 1.0, grad, 0);
        assertThat(grad[1]).isNegative(); // descending the loss raises the sampled token's logit
        assertThat(grad[0]).isPositive();
    }

    private static double logprob(float[] logits, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        return logits[token] - max - Math.log(sum);
    }

    private static double loss(float[] logits, int token, double old, double ref, double advantage, Clip clip, double beta) {
        return Grpo.tokenLoss(logits, 0, logits.length, token, old, ref, advantage, clip, beta, 0.5, new float[logits.length], 0);
    }

    @Test
    void advantagesAndWeightsFollowEachVariant() {
        double[] rewards = {1, 0, 1, 0};
        assertThat(Grpo.advantages(rewards, Variant.GRPO)).containsExactly(new double[] {0.866, -0.866, 0.866, -0.866}, within(1e-3));
        assertThat(Grpo.advantages(rewards, Variant.DR_GRPO)).containsExactly(0.5, -0.5, 0.5, -0.5);
        assertThat(Grpo.advantages(new double[] {1, 1, 1}, Variant.GRPO)).containsExactly(0, 0, 0);
        int[] lengths = {10, 30};
        assertThat(Grpo.weight(Variant.GRPO, lengths, 10)).isEqualTo(1.0 / 20);
        assertThat(Grpo.weight(Variant.DAPO, lengths, 10)).isEqualTo(1.0 / 40);
        assertThat(Grpo.weight(Variant.DR_GRPO, lengths, 10)).isEqualTo(1.0 / 60);
    }
}
