package dev.fathom.model.generate;

/**
 * How the next token is chosen, with llama.cpp's defaults. A temperature of 0 or below is
 * greedy decoding: the most likely token (after penalties), deterministically.
 *
 * @param topK keep the k most likely tokens (0: all)
 * @param topP keep the smallest set whose probability reaches p (1: all)
 * @param minP drop tokens less likely than minP × the most likely one (0: none)
 * @param repeatPenalty divide positive (multiply negative) logits of recent tokens (1: off)
 * @param repeatLastN how many recent tokens the penalties look at (-1: the whole context)
 * @param presencePenalty subtract from the logit of every recent token
 * @param frequencyPenalty subtract, times its count, from the logit of every recent token
 * @param seed seed of the random choice
 */
public record SamplerSettings(
        float temperature,
        int topK,
        float topP,
        float minP,
        float repeatPenalty,
        int repeatLastN,
        float presencePenalty,
        float frequencyPenalty,
        long seed) {

    public static SamplerSettings defaults() {
        return new SamplerSettings(0.8f, 40, 0.95f, 0.05f, 1.0f, 64, 0f, 0f, System.nanoTime());
    }

    public static SamplerSettings greedy() {
        return new SamplerSettings(0f, 40, 0.95f, 0.05f, 1.0f, 64, 0f, 0f, 0);
    }

    public SamplerSettings {
        if (Float.isNaN(temperature)) {
            throw new IllegalArgumentException("temperature must be a number");
        }
        if (topP < 0 || topP > 1) {
            throw new IllegalArgumentException("top-p must be in [0, 1], got " + topP);
        }
        if (minP < 0 || minP > 1) {
            throw new IllegalArgumentException("min-p must be in [0, 1], got " + minP);
        }
        if (repeatPenalty <= 0) {
            throw new IllegalArgumentException("repeat penalty must be positive, got " + repeatPenalty);
        }
    }

    /** These settings with another seed. */
    public SamplerSettings withSeed(long newSeed) {
        return new SamplerSettings(temperature, topK, topP, minP, repeatPenalty, repeatLastN, presencePenalty,
                frequencyPenalty, newSeed);
    }

    public boolean isGreedy() {
        return temperature <= 0;
    }
}
