package dev.fathom.train;

import dev.fathom.model.gguf.GgufValue;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The curves of a training run, kept as it goes in a text file of the work directory: one line per
 * step, the stage, the step and its values (the loss; for GRPO the mean reward and the share of
 * right answers). A run resumed from a checkpoint repeats the steps after it; the later line wins.
 * The model file carries the curves ({@link #curves}) under {@value #GGUF_PREFIX}, so that
 * {@code fathom eval} can plot how the model it scores was trained.
 */
public final class TrainingLog {
    /** The metadata keys of the curves in a GGUF file: this, then {@code pretrain.loss}, {@code grpo.reward}, ... */
    public static final String GGUF_PREFIX = "fathom.training.";

    private final Path file;

    public TrainingLog(Path file) {
        this.file = file;
    }

    /** Appends one step's values. */
    public void append(String stage, int step, double... values) {
        StringBuilder line = new StringBuilder(stage).append('\t').append(step);
        for (double v : values) {
            line.append('\t').append(v);
        }
        try {
            Files.writeString(file, line.append('\n'), StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the training log " + file, e);
        }
    }

    /**
     * The curves under their metadata keys, one value per step: {@value #GGUF_PREFIX} then
     * {@code pretrain.loss} and {@code sft.loss}, and for GRPO {@code grpo.reward} (the mean
     * reward) and {@code grpo.accuracy} (the share of right answers).
     */
    public Map<String, float[]> curves() throws IOException {
        Map<String, float[]> out = new LinkedHashMap<>();
        read().forEach((stage, steps) -> {
            String[] names = stage.equals("grpo") ? new String[] {"reward", "accuracy"} : new String[] {"loss"};
            for (int v = 0; v < names.length; v++) {
                float[] curve = new float[steps.size()];
                for (int i = 0; i < curve.length; i++) {
                    double[] values = steps.get(i);
                    curve[i] = v < values.length ? (float) values[v] : Float.NaN;
                }
                out.put(GGUF_PREFIX + stage + "." + names[v], curve);
            }
        });
        return out;
    }

    /** The curves a model file carries, under their metadata keys, in the file's order. */
    public static Map<String, float[]> curves(Map<String, GgufValue> metadata) {
        Map<String, float[]> out = new LinkedHashMap<>();
        metadata.forEach((key, value) -> {
            if (key.startsWith(GGUF_PREFIX) && value.value() instanceof float[] values) {
                out.put(key, values);
            }
        });
        return out;
    }

    /** Each stage's steps in order, with the values last written for each; empty when there is no log. */
    public Map<String, List<double[]>> read() throws IOException {
        Map<String, TreeMap<Integer, double[]>> stages = new LinkedHashMap<>();
        if (Files.exists(file)) {
            for (String line : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                String[] fields = line.split("\t");
                if (fields.length < 3) {
                    continue; // a line cut short when the run was killed
                }
                double[] values = new double[fields.length - 2];
                try {
                    for (int i = 0; i < values.length; i++) {
                        values[i] = Double.parseDouble(fields[i + 2]);
                    }
                    stages.computeIfAbsent(fields[0], k -> new TreeMap<>()).put(Integer.parseInt(fields[1]), values);
                } catch (NumberFormatException e) {
                    // likewise a cut line
                }
            }
        }
        Map<String, List<double[]>> out = new LinkedHashMap<>();
        stages.forEach((stage, steps) -> out.put(stage, new ArrayList<>(steps.values())));
        return out;
    }
}
