package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.train.Charts;
import dev.fathom.train.Evaluation;
import dev.fathom.train.TrainingLog;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code fathom eval}: models' accuracy on held-out arithmetic, bucket by bucket, side by side; plots of their training. */
@Command(name = "eval", mixinStandardHelpOptions = true, description = {
    "Accuracy on held-out arithmetic problems (never trained on), per task family and size, through the chat template:"
            + " greedy pass@1, and from k sampled replies per problem the share right (sampled pass@1, as R1 reports it),"
            + " maj@k (the most frequent answer) and pass@k (any answer).",
    "Several models are scored side by side (for example each stage of a training run: pretrain.gguf and sft.gguf"
            + " in its work directory, then the final file)."})
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Parameters(arity = "0..*", paramLabel = "MODEL", description = "Models to score side by side (instead of -m).")
    List<Path> models = new ArrayList<>();

    @Option(names = "--problems", paramLabel = "N", description = "Problems per bucket (default: ${DEFAULT-VALUE}).")
    int problems = 50;

    @Option(names = "--seed", paramLabel = "N", description = "Which held-out problems, and the samples' seed (default: ${DEFAULT-VALUE}).")
    long seed = 7;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", description = "Longest reply (default: ${DEFAULT-VALUE}).")
    int maxTokens = 400;

    @Option(names = {"-k", "--samples"}, paramLabel = "K",
            description = "Replies sampled per problem for sampled pass@1, maj@k and pass@k; 0: greedy only (default: ${DEFAULT-VALUE}).")
    int samples = 8;

    @Option(names = "--temp", paramLabel = "T", description = "Temperature of the samples (default: ${DEFAULT-VALUE}, as R1's evaluation).")
    float temperature = 0.6f;

    @Option(names = "--top-p", paramLabel = "P", description = "Nucleus of the samples (default: ${DEFAULT-VALUE}).")
    float topP = 0.95f;

    @Option(names = "--plots", paramLabel = "DIR",
            description = "Write PNG plots into DIR: accuracy.png (each model, each bucket), and from the training curves"
                    + " the last model carries, loss.png (pretraining and fine-tuning) and grpo.png (reward, right answers).")
    Path plots;

    @Override
    public Integer call() throws IOException {
        if (problems < 1 || maxTokens < 1 || samples < 0) {
            throw new Main.UserError("--problems and --max-tokens must be at least 1, --samples at least 0");
        }
        if (!(temperature > 0) || !(topP > 0 && topP <= 1)) {
            throw new Main.UserError("--temp must be above 0 and --top-p in (0, 1]");
        }
        if (modelOptions.model != null && !models.isEmpty()) {
            throw new Main.UserError("give the models either with -m or as arguments, not both");
        }
        List<Path> paths = models.isEmpty() ? List.of(modelOptions.model()) : models;
        if (plots != null) {
            Files.createDirectories(plots);
        }
        var settings = new Evaluation.Settings(problems, seed, maxTokens, samples, temperature, topP);
        Map<String, List<Evaluation.Score>> columns = new LinkedHashMap<>();
        Map<String, float[]> curves = Map.of();
        PrintWriter err = spec.commandLine().getErr();
        for (Path path : paths) {
            try (Model model = modelOptions.open(path)) {
                String name = model.file().getString("general.name", path.getFileName().toString());
                if (columns.containsKey(name)) {
                    name = name + " (" + path.getFileName() + ")";
                }
                long started = System.nanoTime();
                String label = name;
                columns.put(name, Evaluation.run(model, settings, score -> {
                    err.printf("%s, %s: %d of %d right (%.0f s)%n", label, score.bucket().label(), score.greedy(),
                            score.total(), (System.nanoTime() - started) / 1e9);
                    err.flush();
                }));
                curves = TrainingLog.curves(model.file().metadata());
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        out.print(Evaluation.table(columns, samples));
        out.flush();
        if (plots != null) {
            for (Path written : plot(columns, curves)) {
                err.println("wrote " + written);
            }
            err.flush();
        }
        return 0;
    }

    /** The plots: accuracy per bucket and model; the loss and GRPO curves where the last model carries them. */
    private List<Path> plot(Map<String, List<Evaluation.Score>> columns, Map<String, float[]> curves) throws IOException {
        List<Path> written = new ArrayList<>();
        List<String> buckets = Evaluation.BUCKETS.stream().map(Evaluation.Bucket::label).toList();
        Map<String, double[]> bars = new LinkedHashMap<>();
        columns.forEach((name, scores) -> bars.put(name, scores.stream().mapToDouble(s -> 100 * s.accuracy()).toArray()));
        Path accuracy = plots.resolve("accuracy.png");
        Charts.bars("Greedy pass@1 on held-out problems, " + problems + " per bucket", "% right", buckets, bars, 100, accuracy);
        written.add(accuracy);

        String prefix = TrainingLog.GGUF_PREFIX;
        List<Charts.Series> losses = new ArrayList<>();
        int offset = 0;
        for (String stage : List.of("pretrain", "sft")) {
            float[] loss = curves.get(prefix + stage + ".loss");
            if (loss != null) {
                losses.add(series(stage.equals("sft") ? "fine-tuning" : "pretraining", loss, offset));
                offset += loss.length;
            }
        }
        if (!losses.isEmpty()) {
            Path file = plots.resolve("loss.png");
            Charts.lines("Training loss per step", "step", "cross-entropy (nats per token)", losses, file);
            written.add(file);
        }
        float[] reward = curves.get(prefix + "grpo.reward");
        float[] right = curves.get(prefix + "grpo.accuracy");
        if (reward != null && right != null) {
            Path file = plots.resolve("grpo.png");
            Charts.lines("GRPO: the sampled replies of each step", "step", "mean reward; share of right answers",
                    List.of(series("mean reward", reward, 0), series("right answers", right, 0),
                            series("right answers, mean of the last " + WINDOW + " steps", movingMean(right, WINDOW), 0)),
                    file);
            written.add(file);
        }
        return written;
    }

    /** Steps over which the GRPO curve is also shown smoothed: each step samples only a few problems. */
    private static final int WINDOW = 10;

    /** Each value's mean with the {@code window - 1} before it (fewer at the start). */
    private static float[] movingMean(float[] values, int window) {
        float[] out = new float[values.length];
        double sum = 0;
        for (int i = 0; i < values.length; i++) {
            sum += values[i] - (i >= window ? values[i - window] : 0);
            out[i] = (float) (sum / Math.min(i + 1, window));
        }
        return out;
    }

    private static Charts.Series series(String name, float[] values, int offset) {
        double[] x = new double[values.length];
        double[] y = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            x[i] = offset + i + 1;
            y[i] = values[i];
        }
        return new Charts.Series(name, x, y);
    }
}
