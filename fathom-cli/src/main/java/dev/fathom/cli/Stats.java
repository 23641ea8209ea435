package dev.fathom.cli;

import dev.fathom.model.generate.Generation;
import java.io.PrintWriter;

/** The speed report printed after a generation. */
final class Stats {
    private Stats() {
    }

    static void print(PrintWriter err, long loadNanos, Generation.Timings t) {
        if (loadNanos >= 0) {
            err.printf("load:       %.2f s%n", loadNanos / 1e9);
        }
        int evaluated = t.promptTokens() - t.cachedTokens();
        err.printf("prompt:     %d tokens%s in %.2f s, %.1f tokens/s%n", evaluated,
                t.cachedTokens() > 0 ? " (+" + t.cachedTokens() + " cached)" : "", t.promptNanos() / 1e9,
                t.promptTokensPerSecond());
        err.printf("generation: %d tokens in %.2f s, %.1f tokens/s%n", t.generatedTokens(), t.generationNanos() / 1e9,
                t.generationTokensPerSecond());
        if (t.draftedTokens() > 0) {
            err.printf("drafts:     %d, of which %d confirmed (%.0f%%)%n", t.draftedTokens(), t.acceptedDrafts(),
                    100 * t.acceptanceRate());
        }
        err.flush();
    }
}
