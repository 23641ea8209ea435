package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.tensor.GgmlType;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Replies sampled at temperature 1 under a JSON constraint from random logits over a real-sized
 * vocabulary (the R1 distill's 151,936 tokens, unless told otherwise), as a server samples them: what the grammar tests check, and
 * the time the mask takes per step.
 */
final class MaskedSampling {
    final Tokenizer tokenizer;
    private final JsonConstraint constraint;
    private final float[] base;
    private final float[] logits;
    private long maskNanos;
    private int[] lastTokens = new int[0];
    private int steps;

    MaskedSampling(long noiseSeed) throws Exception {
        this(TestModels.get(new Spec("qwen2", GgmlType.Q8_0, 1, 1)), noiseSeed);
    }

    /** Over the vocabulary of {@code model}. */
    MaskedSampling(Path model, long noiseSeed) throws Exception {
        try (GgufFile gguf = GgufFile.open(model)) {
            tokenizer = Tokenizer.from(gguf);
        }
        constraint = new JsonConstraint(tokenizer);
        base = new float[tokenizer.vocabularySize()];
        logits = new float[base.length];
        SplittableRandom noise = new SplittableRandom(noiseSeed);
        for (int i = 0; i < base.length; i++) {
            base[i] = (float) noise.nextGaussian() * 3;
        }
    }

    /**
     * A reply of at most {@code budget} tokens read by {@code state}, sampled with {@code seed}; {@code random}
     * shifts the logits. Its text spells out control tokens.
     */
    String sample(JsonGrammar state, int budget, long seed, SplittableRandom random) {
        int vocabulary = base.length;
        Sampler sampler = new Sampler(new SamplerSettings(1f, 40, 1f, 0f, 1f, 64, 0f, 0f, seed), vocabulary);
        Reply reply = new Reply(tokenizer, new Generation(SamplerSettings.greedy(), budget, List.of()), s -> { }, true);
        int[] history = new int[budget];
        while (!reply.ended()) {
            int shift = random.nextInt(vocabulary); // other random logits at every step, cheaply
            System.arraycopy(base, shift, logits, 0, vocabulary - shift);
            System.arraycopy(base, 0, logits, vocabulary - shift, shift);
            long start = System.nanoTime();
            constraint.mask(logits, 0, state, budget - reply.size());
            maskNanos += System.nanoTime() - start;
            steps++;
            int token = sampler.sample(logits, 0, history, reply.size());
            assertThat(constraint.advance(state, token)).isTrue();
            if (reply.push(token)) {
                history[reply.size() - 1] = token;
            }
        }
        lastTokens = java.util.Arrays.copyOf(history, reply.size());
        return reply.text();
    }

    /** The tokens of the last reply sampled. */
    int[] lastTokens() {
        return lastTokens;
    }

    /** The mask's mean time per step so far, for the test's report. */
    String timing() {
        return String.format("mask over %d tokens: %.2f ms per step (%d steps)", base.length, maskNanos / 1e6 / steps, steps);
    }
}
