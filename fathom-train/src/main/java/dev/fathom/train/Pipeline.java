package dev.fathom.train;

import dev.fathom.model.chat.DeepSeekR1Template;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import dev.fathom.train.data.Curriculum;
import dev.fathom.train.model.GgufExport;
import dev.fathom.train.model.MiniDeepSeek;
import dev.fathom.train.model.ModelConfig;
import dev.fathom.train.model.Parameters;
import dev.fathom.train.optim.AdamW;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tokenizer.BpeTrainer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The whole recipe from a seed: a tokenizer learnt from the task corpus, a model initialised,
 * pretrained on worked problems, fine-tuned on chats, improved by GRPO, written as GGUF. Each stage checkpoints
 * into the work directory, so a killed run goes on where it stopped.
 */
public final class Pipeline {
    public static final String BOS = "<｜begin▁of▁sentence｜>";
    public static final String EOS = "<｜end▁of▁sentence｜>";
    public static final List<String> CONTROLS = List.of(BOS, EOS, "<｜User｜>", "<｜Assistant｜>", "<｜▁pad▁｜>");
    public static final List<String> USER_DEFINED = List.of("<think>", "</think>");

    /**
     * @param vocabulary the most tokens of the trained tokenizer (the model's vocabulary is what it ends with)
     * @param pretrainSteps optimiser steps of pretraining
     * @param fineTuneSteps optimiser steps of fine-tuning
     * @param grpo the reinforcement stage's settings
     */
    public record Settings(ModelConfig model, int vocabulary, int pretrainSteps, int fineTuneSteps, int rows, int length,
            double learningRate, long seed, GgmlType type, Reinforcement.Settings grpo) {
    }

    /** The file in the work directory that keeps each step's loss and reward ({@link TrainingLog}). */
    public static final String HISTORY = "history.tsv";
    /** The model after pretraining and after fine-tuning, kept in the work directory to compare stages. */
    public static final String PRETRAINED = "pretrain.gguf";
    public static final String FINE_TUNED = "sft.gguf";

    private Pipeline() {
    }

    /** The stages, in order. */
    public enum Stage { PRETRAIN, SFT, GRPO }

    /**
     * Runs the stages up to {@code last} into {@code work} (each one resumed from its checkpoint, or
     * skipped if done) and writes the model to {@code out}.
     */
    public static void run(Settings s, Stage last, Path work, Path out, Trainer.Progress progress,
            Reinforcement.Progress rewards, int threads) throws IOException {
        Files.createDirectories(work);
        TrainingLog log = new TrainingLog(work.resolve(HISTORY));
        Trainer.Progress logged = (stage, step, steps, loss, tokensPerSecond, secondsLeft) -> {
            log.append(stage, step, loss);
            progress.step(stage, step, steps, loss, tokensPerSecond, secondsLeft);
        };
        Reinforcement.Progress loggedRewards = (step, steps, meanReward, accuracy, secondsLeft) -> {
            log.append("grpo", step, meanReward, accuracy);
            rewards.step(step, steps, meanReward, accuracy, secondsLeft);
        };
        BpeTrainer.Vocabulary vocabulary = vocabulary(s.vocabulary(), s.seed());
        String template = r1Template();
        DeepSeekR1Template chat = new DeepSeekR1Template(BOS, true);
        Curriculum curriculum = new Curriculum(vocabulary.tokenizer(BOS, EOS), chat, BOS, s.seed());
        // Merges stop when every piece of the corpus is one token: the vocabulary may be smaller than asked for.
        ModelConfig config = s.model().withVocabulary(vocabulary.tokens().length);
        Parameters parameters = Parameters.of(config);
        parameters.initialize(config, 0.02, s.seed());
        try (Parallel parallel = new Parallel(threads)) {
            MiniDeepSeek model = new MiniDeepSeek(config, parameters, parallel);
            Trainer.run(model, stage("pretrain", s.pretrainSteps(), s), step -> curriculum.pretraining(step, s.rows(), s.length()),
                    work.resolve("pretrain.ckpt"), logged);
            Path pretrained = export(model, vocabulary, template, "fathom-tiny (pretrained)", s, log, work.resolve(PRETRAINED));
            if (last == Stage.PRETRAIN) {
                Files.copy(pretrained, out, StandardCopyOption.REPLACE_EXISTING);
                return;
            }
            Trainer.run(model, stage("sft", s.fineTuneSteps(), s), step -> curriculum.fineTuning(step, s.rows(), s.length()),
                    work.resolve("sft.ckpt"), logged);
            Path fineTuned = export(model, vocabulary, template, "fathom-tiny (fine-tuned)", s, log, work.resolve(FINE_TUNED));
            if (last == Stage.SFT) {
                Files.copy(fineTuned, out, StandardCopyOption.REPLACE_EXISTING);
                return;
            }
            MiniDeepSeek reference = null;
            if (s.grpo().beta() != 0) {
                reference = new MiniDeepSeek(config, Parameters.of(config), parallel);
                Trainer.loadWeights(work.resolve("sft.ckpt"), reference);
            }
            Reinforcement.run(model, reference, curriculum, Curriculum::drawWeakest, vocabulary, template, s.grpo(), work,
                    s.seed(), threads, loggedRewards);
            export(model, vocabulary, template, "fathom-tiny", s, log, out);
        }
    }

    /** Writes the model in the settings' type, with the training's curves so far. */
    private static Path export(MiniDeepSeek model, BpeTrainer.Vocabulary vocabulary, String template, String name,
            Settings s, TrainingLog log, Path file) throws IOException {
        GgufExport.write(model, vocabulary, BOS, EOS, template, name, s.type(), log.curves(), file);
        return file;
    }

    private static Trainer.Settings stage(String name, int steps, Settings s) {
        int warmup = Math.max(1, steps / 20);
        return new Trainer.Settings(name, steps, s.rows(), s.length(),
                new AdamW.Schedule(s.learningRate(), warmup, steps, 0.1), 1.0, 0.01, 0.001, 100);
    }

    /** The tokenizer, learnt from a corpus of worked problems drawn from the seed. */
    public static BpeTrainer.Vocabulary vocabulary(int size, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<String> corpus = new ArrayList<>();
        for (int i = 0; i < 4000; i++) {
            Problem p = Curriculum.draw(random);
            corpus.add(p.question());
            corpus.add(p.solution());
        }
        return BpeTrainer.train(corpus, "qwen2", size, CONTROLS, USER_DEFINED);
    }

    /** DeepSeek-R1's chat template (Jinja), which the GGUF carries so that any runtime can chat with the model. */
    static String r1Template() throws IOException {
        try (InputStream in = Pipeline.class.getResourceAsStream("deepseek-r1.jinja")) {
            if (in == null) {
                throw new IOException("the R1 chat template is missing from the classpath");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }
}
