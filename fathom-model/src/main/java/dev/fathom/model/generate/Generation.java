package dev.fathom.model.generate;

import java.util.List;

/**
 * What to generate: how tokens are sampled, how many at most, and which strings end the text.
 *
 * @param maxTokens the most tokens to generate; negative means until the context is full
 */
public record Generation(SamplerSettings sampler, int maxTokens, List<String> stopStrings) {
    public Generation {
        stopStrings = List.copyOf(stopStrings);
    }

    /** Why a generation ended. */
    public enum StopReason {
        /** The model produced an end-of-generation token. */
        END_OF_GENERATION,
        /** A stop string appeared. */
        STOP_STRING,
        /** The token limit was reached. */
        MAX_TOKENS,
        /** The context is full. */
        CONTEXT_FULL,
        /** The caller cancelled. */
        CANCELLED
    }

    /**
     * Measured durations, in nanoseconds, and with multi-token prediction how many tokens were
     * drafted and how many of those the model confirmed.
     */
    public record Timings(int promptTokens, int cachedTokens, long promptNanos, int generatedTokens,
            long generationNanos, int draftedTokens, int acceptedDrafts) {
        public double promptTokensPerSecond() {
            return promptNanos == 0 ? 0 : (promptTokens - cachedTokens) * 1e9 / promptNanos;
        }

        public double generationTokensPerSecond() {
            return generationNanos == 0 ? 0 : generatedTokens * 1e9 / generationNanos;
        }

        /** The share of drafted tokens the model confirmed; 0 when nothing was drafted. */
        public double acceptanceRate() {
            return draftedTokens == 0 ? 0 : (double) acceptedDrafts / draftedTokens;
        }
    }

    /** The outcome: the prompt's ids, the generated ids and text, why it stopped, and how long it took. */
    public record Result(int[] promptTokens, int[] tokens, String text, StopReason stopReason, Timings timings) {
    }
}
