package dev.fathom.cli;

import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** How to sample, with llama.cpp's defaults. */
final class SamplingOptions {
    @Option(names = "--temp", paramLabel = "T", description = "Temperature; 0 is greedy and deterministic (default: ${DEFAULT-VALUE}).")
    float temperature = 0.8f;

    @Option(names = "--top-k", paramLabel = "K", description = "Keep the K most likely tokens; 0 keeps all (default: ${DEFAULT-VALUE}).")
    int topK = 40;

    @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling threshold (default: ${DEFAULT-VALUE}).")
    float topP = 0.95f;

    @Option(names = "--min-p", paramLabel = "P", description = "Drop tokens below P × the top probability (default: ${DEFAULT-VALUE}).")
    float minP = 0.05f;

    @Option(names = "--repeat-penalty", paramLabel = "X", description = "Penalty for recent tokens; 1 is off (default: ${DEFAULT-VALUE}).")
    float repeatPenalty = 1.0f;

    @Option(names = "--repeat-last-n", paramLabel = "N", description = "Recent tokens the penalties look at; -1 is all (default: ${DEFAULT-VALUE}).")
    int repeatLastN = 64;

    @Option(names = "--presence-penalty", paramLabel = "X", description = "Subtracted from recent tokens' logits (default: ${DEFAULT-VALUE}).")
    float presencePenalty = 0;

    @Option(names = "--frequency-penalty", paramLabel = "X", description = "Subtracted per occurrence (default: ${DEFAULT-VALUE}).")
    float frequencyPenalty = 0;

    @Option(names = {"-s", "--seed"}, paramLabel = "N", description = "Random seed (default: random).")
    Long seed;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", description = "Tokens to generate at most; -1 until the context is full (default: ${DEFAULT-VALUE}).")
    int maxTokens = -1;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when this text appears (repeatable).")
    List<String> stops = new ArrayList<>();

    Generation generation() {
        try {
            SamplerSettings sampler = new SamplerSettings(temperature, topK, topP, minP, repeatPenalty, repeatLastN,
                    presencePenalty, frequencyPenalty, seed != null ? seed : System.nanoTime());
            return new Generation(sampler, maxTokens, stops);
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(e.getMessage());
        }
    }
}
