package dev.fathom.model.generate;

import dev.fathom.tensor.kernel.VectorMath;

/**
 * The log-probabilities of one sampling step, as the API reports them: the chosen token's, and
 * the {@code k} most likely tokens' with theirs, from the distribution the sampler drew from
 * (the logits after any mask, before penalties and temperature).
 */
public record TokenLogprobs(int token, float logprob, int[] top, float[] topLogprobs) {

    /** The log-softmax of {@code logits[offset, offset + n)} at {@code token}, and its {@code k} largest entries. */
    public static TokenLogprobs of(float[] logits, int offset, int n, int token, int k) {
        float logSum = (float) VectorMath.logSumExp(logits, offset, n);
        int[] top = new int[k];
        float[] values = new float[k];
        int kept = 0;
        for (int i = 0; i < n; i++) {
            float v = logits[offset + i];
            if (kept < k || v > values[kept - 1]) {
                int at = Math.min(kept, k - 1);
                while (at > 0 && values[at - 1] < v) { // insertion into the descending list
                    values[at] = values[at - 1];
                    top[at] = top[at - 1];
                    at--;
                }
                values[at] = v;
                top[at] = i;
                kept = Math.min(kept + 1, k);
            }
        }
        for (int j = 0; j < k; j++) {
            values[j] -= logSum;
        }
        return new TokenLogprobs(token, logits[offset + token] - logSum, top, values);
    }
}
