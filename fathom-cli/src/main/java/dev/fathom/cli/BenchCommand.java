package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.model.arch.Batch;
import dev.fathom.model.arch.DeepSeek2;
import dev.fathom.model.arch.DeepSeek2Config;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.arch.LanguageModel;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import java.util.List;
import java.io.PrintWriter;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code fathom bench}: prompt-processing and generation speed, in the manner of llama-bench: a
 * prompt of random tokens evaluated in batches, then tokens decoded one at a time from an empty
 * context; the median of several runs after an untimed warm-up run of each.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure prompt processing (pp) and generation (tg) speed in tokens/s, median of -r runs,"
                + " and the memory bandwidth that generation implies."})
final class BenchCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = {"-p", "--n-prompt"}, paramLabel = "N", description = "Prompt tokens (default: ${DEFAULT-VALUE}; 0 skips).")
    int promptTokens = 512;

    @Option(names = {"-n", "--n-gen"}, paramLabel = "N", description = "Generated tokens (default: ${DEFAULT-VALUE}; 0 skips).")
    int generatedTokens = 128;

    @Option(names = {"-r", "--repetitions"}, paramLabel = "N", description = "Runs per test (default: ${DEFAULT-VALUE}).")
    int repetitions = 3;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Override
    public Integer call() {
        if (repetitions < 1 || promptTokens < 0 || generatedTokens < 0) {
            throw new Main.UserError("-p and -n must not be negative, -r must be at least 1");
        }
        PrintWriter out = spec.commandLine().getOut();
        try (Model model = modelOptions.open()) {
            LanguageModel network = model.network();
            int context = Math.max(promptTokens, generatedTokens) + 1;
            SplittableRandom random = new SplittableRandom(42);
            try (KvCache cache = network.newCache(modelOptions.cacheType(), 1, context)) {
                float[] logits = new float[network.vocabularySize()];
                double ppTps = 0;
                double tgTps = 0;
                // One untimed run of each test first, as llama-bench does: here it also lets the JIT
                // compile the kernels before the clock starts.
                if (promptTokens > 0) {
                    prompt(network, cache, logits, random, promptTokens);
                    ppTps = median(repetitions, () -> prompt(network, cache, logits, random, promptTokens));
                }
                if (generatedTokens > 0) {
                    generate(network, cache, logits, random, generatedTokens);
                    tgTps = median(repetitions, () -> generate(network, cache, logits, random, generatedTokens));
                }
                Drafting drafting = modelOptions.mtp && generatedTokens > 0
                        ? drafting(model, modelOptions.cacheType(), random, generatedTokens, repetitions) : null;
                long bytesPerToken = network.weightBytesPerToken();
                long naiveKv = naiveKvBytesPerToken(network, cache);
                if (json) {
                    Map<String, Object> result = new LinkedHashMap<>();
                    result.put("pp", promptTokens);
                    result.put("tg", generatedTokens);
                    result.put("pp_tps", ppTps);
                    result.put("tg_tps", tgTps);
                    result.put("bytes_per_token", bytesPerToken);
                    result.put("kv_bytes_per_token", cache.bytesPerToken());
                    if (naiveKv > 0) {
                        result.put("mha_kv_bytes_per_token", naiveKv);
                    }
                    if (drafting != null) {
                        result.put("mtp_tg_tps", drafting.withDrafts());
                        result.put("mtp_speedup", drafting.speedup());
                        result.put("mtp_acceptance", drafting.acceptance());
                    }
                    result.put("threads", model.threads());
                    out.println(JsonMapper.builder().build().writeValueAsString(result));
                } else {
                    out.printf("model:   %s%n", model.file().path().getFileName());
                    out.printf("         %s%n", network.describe());
                    out.printf("threads: %d%n", model.threads());
                    if (promptTokens > 0) {
                        out.printf("pp%-6d %8.2f tokens/s%n", promptTokens, ppTps);
                    }
                    if (generatedTokens > 0) {
                        out.printf("tg%-6d %8.2f tokens/s%n", generatedTokens, tgTps);
                    }
                    if (drafting != null) {
                        out.printf("tg%-6d %8.2f tokens/s with MTP drafts, %.2fx the same replies without;"
                                + " %.0f%% of drafts confirmed%n", generatedTokens, drafting.withDrafts(),
                                drafting.speedup(), 100 * drafting.acceptance());
                    }
                    out.printf("weights read per token: %.3f GB; at tg speed that is %.1f GB/s%n", bytesPerToken / 1e9,
                            bytesPerToken * tgTps / 1e9);
                    out.printf("KV cache: %,d bytes per token", cache.bytesPerToken());
                    if (naiveKv > 0) {
                        out.printf(" (the latent; caching every head's keys and values would take %,d, %.1f× more)",
                                naiveKv, (double) naiveKv / cache.bytesPerToken());
                    }
                    out.println();
                }
                out.flush();
            }
        }
        return 0;
    }

    /** Evaluates {@code n} random tokens as a prompt in batches; returns tokens/s. */
    private double prompt(LanguageModel network, KvCache cache, float[] logits, SplittableRandom random, int n) {
        Batch batch = new Batch(Math.min(n, modelOptions.batchSize));
        long start = System.nanoTime();
        for (int done = 0; done < n; ) {
            int size = Math.min(batch.capacity(), n - done);
            batch.clear();
            for (int i = 0; i < size; i++) {
                batch.add(random.nextInt(network.vocabularySize()), done + i, 0, done + i == n - 1);
            }
            network.forward(batch, cache, logits);
            done += size;
        }
        return n * 1e9 / (System.nanoTime() - start);
    }

    /** Decodes {@code n} random tokens one at a time from position 0; returns tokens/s. */
    private static double generate(LanguageModel network, KvCache cache, float[] logits, SplittableRandom random, int n) {
        Batch batch = new Batch(1);
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            network.forward(batch.clear().add(random.nextInt(network.vocabularySize()), i, 0, true), cache, logits);
        }
        return n * 1e9 / (System.nanoTime() - start);
    }

    private static double median(int runs, java.util.function.DoubleSupplier run) {
        double[] values = new double[runs];
        for (int i = 0; i < runs; i++) {
            values[i] = run.getAsDouble();
        }
        Arrays.sort(values);
        return runs % 2 == 1 ? values[runs / 2] : (values[runs / 2 - 1] + values[runs / 2]) / 2;
    }

    /**
     * For a model with latent attention, what plain multi-head attention would cache per token in
     * the same element type: every head's key and value, in every layer. 0 for other models.
     */
    private static long naiveKvBytesPerToken(LanguageModel network, KvCache cache) {
        if (!(network instanceof DeepSeek2 mla)) {
            return 0;
        }
        DeepSeek2Config c = mla.config();
        long elementBytes = cache.bytesPerToken() / ((long) c.layers() * c.cacheWidth());
        return elementBytes * c.layers() * c.heads() * (c.keyDim() + c.valueDim());
    }

    /** Generation through a session with and without MTP drafts: the same greedy replies, timed. */
    private record Drafting(double withDrafts, double withoutDrafts, double acceptance) {
        double speedup() {
            return withDrafts / withoutDrafts;
        }
    }

    /**
     * Greedy replies of {@code n} tokens to a prompt of 8 random tokens, alternately with and
     * without drafts (after one untimed run of each), medians of {@code repetitions} runs.
     */
    private Drafting drafting(Model model, KvCache.Type cacheType, SplittableRandom random, int n, int repetitions) {
        int[] prompt = new int[8];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = random.nextInt(model.network().vocabularySize());
        }
        Generation greedy = new Generation(SamplerSettings.greedy(), n, List.of());
        double[][] speeds = new double[2][repetitions];
        double acceptance = 0;
        for (int run = -1; run < repetitions; run++) {
            for (int drafts = 0; drafts < 2; drafts++) {
                try (Session session = newSession(model, prompt.length + n + 1, prompt.length, cacheType, drafts == 1)) {
                    Generation.Timings t = session.generate(prompt, greedy, s -> { }, () -> false).timings();
                    if (run >= 0) {
                        speeds[drafts][run] = t.generationTokensPerSecond();
                        acceptance = drafts == 1 ? t.acceptanceRate() : acceptance;
                    }
                }
            }
        }
        Arrays.sort(speeds[0]);
        Arrays.sort(speeds[1]);
        return new Drafting(speeds[1][repetitions / 2], speeds[0][repetitions / 2], acceptance);
    }

    private static Session newSession(Model model, int context, int batch, KvCache.Type cacheType, boolean drafts) {
        try {
            return model.newSession(context, batch, cacheType, drafts);
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(model.file().path() + ": " + e.getMessage());
        }
    }
}
