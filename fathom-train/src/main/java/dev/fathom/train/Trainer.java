package dev.fathom.train;

import dev.fathom.train.data.Curriculum;
import dev.fathom.train.model.MiniDeepSeek;
import dev.fathom.train.optim.AdamW;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;

/**
 * The loop of a supervised stage (pretraining, fine-tuning): batch, forward, loss, backward,
 * gradient clipping, AdamW on the schedule, the balancing bias nudged. A checkpoint (weights,
 * balancing bias, optimiser moments, losses so far) is written every so many steps and at the
 * end; a run started again with the same checkpoint goes on from its step, and a finished stage
 * is not run twice.
 */
public final class Trainer {
    private static final int MAGIC = 0x4654434B; // "FTCK"

    /**
     * @param stage a name, for the progress line and the checkpoint
     * @param steps optimiser steps
     * @param rows sequences per batch
     * @param length tokens per sequence
     * @param balanceRate how far each step moves a routing bias (DeepSeek-V3's γ)
     * @param checkpointEvery steps between checkpoints
     */
    public record Settings(String stage, int steps, int rows, int length, AdamW.Schedule schedule, double clip,
            double weightDecay, double balanceRate, int checkpointEvery) {
    }

    /** Hears of each step. */
    public interface Progress {
        void step(String stage, int step, int steps, double loss, double tokensPerSecond, double secondsLeft);
    }

    private Trainer() {
    }

    /**
     * Runs (or finishes) a stage on {@code model}; returns the loss of every step. {@code batches}
     * gives the batch of each step.
     */
    public static List<Double> run(MiniDeepSeek model, Settings s, IntFunction<Curriculum.Batch> batches, Path checkpoint,
            Progress progress) throws IOException {
        AdamW adam = new AdamW(model.parameters().size(), 0.9, 0.95, 1e-8, s.weightDecay());
        List<Double> losses = new ArrayList<>();
        int first = Files.exists(checkpoint) ? restore(checkpoint, s.stage(), model, adam, losses) : 0;
        double[] coefficients = new double[s.rows() * s.length()];
        long started = System.nanoTime();
        long tokens = 0;
        for (int step = first; step < s.steps(); step++) {
            Curriculum.Batch batch = batches.apply(step);
            model.forward(batch.inputs(), batch.rows(), batch.length());
            double loss = model.crossEntropy(batch.targets(), batch.weights(), coefficients);
            model.zeroGradients();
            model.backward(batch.targets(), coefficients);
            AdamW.clipNorm(model.gradients().values(), s.clip());
            adam.step(model.parameters().values(), model.gradients().values(), s.schedule().at(step));
            model.balanceLoad(s.balanceRate());
            losses.add(loss);
            tokens += batch.inputs().length;
            double seconds = (System.nanoTime() - started) / 1e9;
            double perStep = seconds / (step - first + 1);
            progress.step(s.stage(), step + 1, s.steps(), loss, tokens / seconds, perStep * (s.steps() - step - 1));
            if ((step + 1) % s.checkpointEvery() == 0 || step + 1 == s.steps()) {
                save(checkpoint, s.stage(), step + 1, model, adam, losses);
            }
        }
        return losses;
    }

    /** Writes the checkpoint to a sibling first and moves it into place, so a killed run never leaves half of one. */
    static void save(Path file, String stage, int step, MiniDeepSeek model, AdamW adam, List<Double> losses)
            throws IOException {
        Path partial = file.resolveSibling(file.getFileName() + ".partial");
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(partial), 1 << 16))) {
            out.writeInt(MAGIC);
            out.writeUTF(stage);
            out.writeInt(step);
            double[] values = model.parameters().values();
            out.writeInt(values.length);
            for (double v : values) {
                out.writeDouble(v);
            }
            for (int l = 0; l < model.config().layers(); l++) {
                double[] bias = model.balance(l);
                out.writeInt(bias == null ? 0 : bias.length);
                for (int i = 0; bias != null && i < bias.length; i++) {
                    out.writeDouble(bias[i]);
                }
            }
            adam.writeTo(out);
            out.writeInt(losses.size());
            for (double loss : losses) {
                out.writeDouble(loss);
            }
        }
        Files.move(partial, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Reads a checkpoint into {@code model} and {@code adam}; returns its step. */
    static int restore(Path file, String stage, MiniDeepSeek model, AdamW adam, List<Double> losses) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            if (in.readInt() != MAGIC) {
                throw new IOException(file + " is not a Fathom training checkpoint");
            }
            String saved = in.readUTF();
            if (!saved.equals(stage)) {
                throw new IOException(file + " is a checkpoint of stage " + saved + ", not " + stage);
            }
            int step = in.readInt();
            double[] values = model.parameters().values();
            if (in.readInt() != values.length) {
                throw new IOException(file + " holds a model of another size");
            }
            for (int i = 0; i < values.length; i++) {
                values[i] = in.readDouble();
            }
            readBalance(in, model);
            adam.readFrom(in);
            int n = in.readInt();
            for (int i = 0; i < n; i++) {
                losses.add(in.readDouble());
            }
            return step;
        }
    }

    /** Reads only the weights and balancing bias of a checkpoint (to start the next stage from it). */
    public static void loadWeights(Path file, MiniDeepSeek model) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            if (in.readInt() != MAGIC) {
                throw new IOException(file + " is not a Fathom training checkpoint");
            }
            in.readUTF();
            in.readInt();
            double[] values = model.parameters().values();
            if (in.readInt() != values.length) {
                throw new IOException(file + " holds a model of another size");
            }
            for (int i = 0; i < values.length; i++) {
                values[i] = in.readDouble();
            }
            readBalance(in, model);
        }
    }

    private static void readBalance(DataInputStream in, MiniDeepSeek model) throws IOException {
        for (int l = 0; l < model.config().layers(); l++) {
            int n = in.readInt();
            double[] bias = model.balance(l);
            if (n != (bias == null ? 0 : bias.length)) {
                throw new IOException("the checkpoint's routing does not match the model's");
            }
            for (int i = 0; i < n; i++) {
                bias[i] = in.readDouble();
            }
        }
    }
}
