package dev.fathom.model.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits, in llama.cpp's order: repetition penalties, top-k, top-p,
 * min-p, temperature, then a random draw (or the arg-max when greedy).
 */
public final class Sampler {
    private final SamplerSettings settings;
    private final SplittableRandom random;
    private final int[] counts;
    private int[] order = new int[0];
    private float[] probabilities = new float[0];
    private long[] keys = new long[0];

    public Sampler(SamplerSettings settings, int vocabularySize) {
        this.settings = settings;
        this.random = new SplittableRandom(settings.seed());
        this.counts = new int[vocabularySize];
    }

    public SamplerSettings settings() {
        return settings;
    }

    /**
     * Chooses a token from {@code logits[offset, offset + vocabularySize)}, which it may modify;
     * {@code history} holds the tokens so far (prompt and generated), {@code historyLength} of them.
     */
    public int sample(float[] logits, int offset, int[] history, int historyLength) {
        int vocab = counts.length;
        applyPenalties(logits, offset, history, historyLength);
        if (settings.isGreedy()) {
            return argmax(logits, offset, vocab);
        }
        int n = candidates(logits, offset);
        // Probabilities of the candidates (sorted by logit, descending) before temperature.
        softmax(logits, offset, n, 1f);
        if (settings.topP() < 1) {
            double cumulative = 0;
            for (int i = 0; i < n; i++) {
                cumulative += probabilities[i];
                if (cumulative >= settings.topP()) {
                    n = i + 1;
                    break;
                }
            }
        }
        if (settings.minP() > 0) {
            float threshold = settings.minP() * probabilities[0];
            int keep = 1;
            while (keep < n && probabilities[keep] >= threshold) {
                keep++;
            }
            n = keep;
        }
        softmax(logits, offset, n, settings.temperature());
        // Drawn against the probabilities' own sum: over a whole vocabulary the float sum falls
        // short of 1, and a draw past it must not land on a token of probability 0 (one a
        // grammar ruled out, at minus infinity).
        double total = 0;
        for (int i = 0; i < n; i++) {
            total += probabilities[i];
        }
        double r = random.nextDouble() * total;
        double cumulative = 0;
        int last = 0;
        for (int i = 0; i < n; i++) {
            if (probabilities[i] > 0) {
                cumulative += probabilities[i];
                last = i;
                if (r < cumulative) {
                    return order[i];
                }
            }
        }
        return order[last];
    }

    private void applyPenalties(float[] logits, int offset, int[] history, int historyLength) {
        float repeat = settings.repeatPenalty();
        float presence = settings.presencePenalty();
        float frequency = settings.frequencyPenalty();
        if (repeat == 1 && presence == 0 && frequency == 0) {
            return;
        }
        int window = settings.repeatLastN() < 0 ? historyLength : Math.min(settings.repeatLastN(), historyLength);
        for (int i = historyLength - window; i < historyLength; i++) {
            counts[history[i]]++;
        }
        for (int i = historyLength - window; i < historyLength; i++) {
            int token = history[i];
            int count = counts[token];
            if (count == 0) {
                continue; // already penalised
            }
            int at = offset + token;
            logits[at] = logits[at] > 0 ? logits[at] / repeat : logits[at] * repeat;
            logits[at] -= count * frequency + presence;
            counts[token] = 0;
        }
    }

    /** Orders the top-k candidates by logit, descending, into {@link #order}; returns their count. */
    private int candidates(float[] logits, int offset) {
        int vocab = counts.length;
        int k = settings.topK() <= 0 ? vocab : Math.min(settings.topK(), vocab);
        if (order.length < vocab) {
            order = new int[vocab];
            probabilities = new float[vocab];
        }
        if (k == vocab) {
            // Sort (logit, token) pairs packed into longs: the high half orders like the float,
            // descending once negated; the low half keeps the token. No boxing, one primitive sort.
            if (keys.length < vocab) {
                keys = new long[vocab];
            }
            for (int i = 0; i < vocab; i++) {
                int bits = Float.floatToRawIntBits(logits[offset + i]);
                int ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF); // ints that order as the floats do
                keys[i] = (long) ~ordered << 32 | i;
            }
            Arrays.sort(keys, 0, vocab);
            for (int i = 0; i < vocab; i++) {
                order[i] = (int) keys[i];
            }
            return vocab;
        }
        // Keep the k largest in a sorted prefix by insertion: k is small next to the vocabulary.
        int size = 0;
        for (int token = 0; token < vocab; token++) {
            float v = logits[offset + token];
            if (size == k && v <= logits[offset + order[k - 1]]) {
                continue;
            }
            int at = size < k ? size++ : k - 1;
            while (at > 0 && logits[offset + order[at - 1]] < v) {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = token;
        }
        return size;
    }

    private void softmax(float[] logits, int offset, int n, float temperature) {
        float max = logits[offset + order[0]];
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double e = Math.exp((logits[offset + order[i]] - max) / temperature);
            probabilities[i] = (float) e;
            sum += e;
        }
        for (int i = 0; i < n; i++) {
            probabilities[i] = (float) (probabilities[i] / sum);
        }
    }

    /** The index (from {@code offset}) of the largest of {@code logits[offset, offset + n)}, the first of equals. */
    static int argmax(float[] logits, int offset, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (logits[offset + i] > logits[offset + best]) {
                best = i;
            }
        }
        return best;
    }
}
