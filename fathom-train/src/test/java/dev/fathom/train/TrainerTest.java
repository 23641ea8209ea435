package dev.fathom.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.Model;
import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.DeepSeekR1Template;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import dev.fathom.train.data.Curriculum;
import dev.fathom.train.model.GgufExport;
import dev.fathom.train.model.MiniDeepSeek;
import dev.fathom.train.model.ModelConfig;
import dev.fathom.train.model.Parameters;
import dev.fathom.train.optim.AdamW;
import dev.fathom.train.rl.Grpo;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tasks.Problem.Family;
import dev.fathom.train.tasks.Rewards;
import dev.fathom.train.tokenizer.BpeTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The training loop: a short run lowers the loss of both stages by a clear margin and ends in a
 * GGUF file the engine loads; a run killed mid-stage and started again goes on from its last
 * checkpoint to the losses of a run that was never stopped; GRPO samples with the engine,
 * checkpoints, and its update makes a rewarded reply more likely and unrewarded ones less.
 */
class TrainerTest {
    /** A model small enough for a test's budget: about 60k parameters. */
    static final ModelConfig SMALL = new ModelConfig(320, 32, 2, 1, 2, 32, 32, 8, 8, 8, 64, 4, 2, 32, 10000, 192);

    @TempDir
    Path dir;

    @Test
    void aShortRunLowersTheLossOfBothStagesAndWritesAModelTheEngineRuns() throws Exception {
        List<Double> losses = new ArrayList<>();
        Path out = dir.resolve("small.gguf");
        Pipeline.run(new Pipeline.Settings(SMALL, SMALL.vocabulary(), 60, 60, 8, SMALL.context(), 1e-2, 3, GgmlType.F32, null),
                Pipeline.Stage.SFT, dir.resolve("work"), out,
                (stage, step, steps, loss, tokensPerSecond, secondsLeft) -> losses.add(loss), null, 2);
        double pretrainStart = mean(losses.subList(0, 5));
        double pretrainEnd = mean(losses.subList(55, 60));
        double sftStart = mean(losses.subList(60, 65));
        double sftEnd = mean(losses.subList(115, 120));
        System.out.printf("pretraining loss %.3f -> %.3f, fine-tuning loss %.3f -> %.3f%n", pretrainStart, pretrainEnd,
                sftStart, sftEnd);
        assertThat(pretrainStart).isGreaterThan(Math.log(SMALL.vocabulary()) - 0.5);
        assertThat(pretrainEnd).isLessThan(pretrainStart - 2.5);
        assertThat(sftEnd).isLessThan(sftStart - 0.2);
        try (Model model = Model.open(out, 2)) {
            assertThat(model.network().vocabularySize()).isEqualTo(SMALL.vocabulary());
            assertThat(model.chatTemplate().opensThinking()).isTrue();
            assertThat(model.file().getString("general.name")).isEqualTo("fathom-tiny (fine-tuned)");
            // The file carries its training curves, step by step, for fathom eval to plot.
            Map<String, float[]> curves = TrainingLog.curves(model.file().metadata());
            assertThat(curves.keySet()).containsExactly("fathom.training.pretrain.loss", "fathom.training.sft.loss");
            float[] seen = new float[losses.size()];
            for (int i = 0; i < seen.length; i++) {
                seen[i] = losses.get(i).floatValue();
            }
            assertThat(curves.get("fathom.training.pretrain.loss")).containsExactly(Arrays.copyOfRange(seen, 0, 60));
            assertThat(curves.get("fathom.training.sft.loss")).containsExactly(Arrays.copyOfRange(seen, 60, 120));
        }
        try (Model pretrained = Model.open(dir.resolve("work").resolve(Pipeline.PRETRAINED), 2)) {
            assertThat(pretrained.file().getString("general.name")).isEqualTo("fathom-tiny (pretrained)");
        }
    }

    @Test
    void theGrpoStageSamplesWithTheEngineCheckpointsAndRepeatsItselfByteForByte() throws Exception {
        List<Double> rewards = new ArrayList<>();
        Path out = dir.resolve("grpo.gguf");
        var grpo = new Reinforcement.Settings(3, 2, 4, 48, 1e-3, 0.04, Grpo.Variant.GRPO, Grpo.Clip.GRPO, 1f);
        Pipeline.run(new Pipeline.Settings(SMALL, SMALL.vocabulary(), 20, 20, 8, SMALL.context(), 1e-2, 3, GgmlType.F32, grpo),
                Pipeline.Stage.GRPO, dir.resolve("work"), out, (stage, step, steps, loss, tokensPerSecond, secondsLeft) -> { },
                (step, steps, reward, accuracy, secondsLeft) -> rewards.add(reward), 2);
        assertThat(rewards).hasSize(3).allSatisfy(r -> assertThat(r).isBetween(0.0, Rewards.CORRECT + Rewards.FORMAT));
        assertThat(dir.resolve("work/grpo.ckpt")).exists();
        try (Model model = Model.open(out, 2)) {
            assertThat(model.chatTemplate().opensThinking()).isTrue();
        }
        // From the same seed, on one thread instead of two, by then compiled rather than
        // interpreted, the whole pipeline writes the same file byte for byte.
        Path again = dir.resolve("again.gguf");
        Pipeline.run(new Pipeline.Settings(SMALL, SMALL.vocabulary(), 20, 20, 8, SMALL.context(), 1e-2, 3, GgmlType.F32, grpo),
                Pipeline.Stage.GRPO, dir.resolve("again"), again, (stage, step, steps, loss, tokensPerSecond, secondsLeft) -> { },
                (step, steps, reward, accuracy, secondsLeft) -> { }, 1);
        assertThat(Files.mismatch(out, again)).isEqualTo(-1);
    }

    @Test
    void aShortGrpoRunRaisesTheMeanRewardOnItsTrainingProblems() throws Exception {
        Path work = dir.resolve("work");
        Path fineTuned = dir.resolve("sft.gguf");
        Pipeline.run(new Pipeline.Settings(SMALL, SMALL.vocabulary(), 60, 60, 8, SMALL.context(), 1e-2, 3, GgmlType.F32, null),
                Pipeline.Stage.SFT, work, fineTuned, (stage, step, steps, loss, tokensPerSecond, secondsLeft) -> { }, null, 2);
        List<Problem> problems = List.of(new Problem(Family.ADDITION, 3, 5, "What is 3 + 5?"),
                new Problem(Family.ADDITION, 6, 2, "What is 6 + 2?"), new Problem(Family.ADDITION, 4, 4, "Add 4 and 4."),
                new Problem(Family.ADDITION, 7, 1, "Compute 7 + 1."));
        double before = meanReward(fineTuned, problems);
        BpeTrainer.Vocabulary vocabulary = Pipeline.vocabulary(SMALL.vocabulary(), 3);
        ModelConfig config = SMALL.withVocabulary(vocabulary.tokens().length);
        Curriculum curriculum = new Curriculum(vocabulary.tokenizer(Pipeline.BOS, Pipeline.EOS),
                new DeepSeekR1Template(Pipeline.BOS, true), Pipeline.BOS, 3);
        Path improved = dir.resolve("grpo.gguf");
        List<Double> rewards;
        try (Parallel parallel = new Parallel(2)) {
            MiniDeepSeek policy = new MiniDeepSeek(config, Parameters.of(config), parallel);
            Trainer.loadWeights(work.resolve("sft.ckpt"), policy);
            var settings = new Reinforcement.Settings(GRPO_STEPS, 4, 8, 64, 2e-3, 0, Grpo.Variant.GRPO, Grpo.Clip.GRPO, 1f);
            rewards = Reinforcement.run(policy, null, curriculum, random -> problems.get(random.nextInt(problems.size())),
                    vocabulary, Pipeline.r1Template(), settings, Files.createDirectories(dir.resolve("grpo")), 3, 2,
                    (step, steps, reward, accuracy, secondsLeft) -> { });
            GgufExport.write(policy, vocabulary, Pipeline.BOS, Pipeline.EOS, Pipeline.r1Template(), "grpo", GgmlType.F32,
                    Map.of(), improved);
        }
        double after = meanReward(improved, problems);
        System.out.printf("GRPO on 4 problems, %d steps: mean reward %.3f -> %.3f (per step %s)%n", GRPO_STEPS, before,
                after, rewards);
        // Measured 0.080 -> 0.563 with 512- and 256-bit vectors, 0.720 with 128-bit ones: the
        // float rounding of the engine's sums differs with the width, and sampling follows it.
        // (At 20 steps the gain was 0.03 to 0.23, too close to the noise of 32 samples per problem.)
        assertThat(after).isGreaterThan(before + 0.2);
    }

    static final int GRPO_STEPS = 40;

    @Test
    void dapoDrawsAnotherProblemInPlaceOfAGroupWithNothingToLearn() throws Exception {
        BpeTrainer.Vocabulary vocabulary = Pipeline.vocabulary(SMALL.vocabulary(), 3);
        ModelConfig config = SMALL.withVocabulary(vocabulary.tokens().length);
        Curriculum curriculum = new Curriculum(vocabulary.tokenizer(Pipeline.BOS, Pipeline.EOS),
                new DeepSeekR1Template(Pipeline.BOS, true), Pipeline.BOS, 3);
        Problem problem = new Problem(Family.ADDITION, 3, 5, "What is 3 + 5?");
        java.util.Map<Grpo.Variant, Integer> drawn = new java.util.EnumMap<>(Grpo.Variant.class);
        List<Double> accuracy = new ArrayList<>();
        for (Grpo.Variant variant : List.of(Grpo.Variant.GRPO, Grpo.Variant.DAPO)) {
            try (Parallel parallel = new Parallel(2)) {
                // Untrained: every reply is wrong, so every group's replies are rewarded alike.
                MiniDeepSeek policy = new MiniDeepSeek(config, Parameters.of(config), parallel);
                var settings = new Reinforcement.Settings(1, 2, 3, 8, 1e-3, 0, variant, Grpo.Clip.DAPO, 1f);
                Reinforcement.run(policy, null, curriculum, random -> {
                    drawn.merge(variant, 1, Integer::sum);
                    return problem;
                }, vocabulary, Pipeline.r1Template(), settings, Files.createDirectories(dir.resolve(variant.name())), 3, 2,
                        (step, steps, reward, right, secondsLeft) -> accuracy.add(right));
            }
        }
        assertThat(accuracy).containsOnly(0.0);
        assertThat(drawn.get(Grpo.Variant.GRPO)).as("GRPO keeps the problems it draws").isEqualTo(2);
        assertThat(drawn.get(Grpo.Variant.DAPO)).as("DAPO draws again, up to four times the problems it keeps").isEqualTo(8);
    }

    /** The mean reward of replies sampled at temperature 1, 32 for each problem, with the engine on {@code model}. */
    private static double meanReward(Path model, List<Problem> problems) {
        double total = 0;
        int count = 0;
        java.util.SplittableRandom seeds = new java.util.SplittableRandom(99);
        try (Model m = Model.open(model, 2); Session session = m.newSession(256, 256)) {
            for (Problem p : problems) {
                int[] prompt = m.chatTokens(m.chatTemplate().render(List.of(ChatMessage.user(p.question())), true));
                for (int k = 0; k < 32; k++) {
                    var sampling = new SamplerSettings(1f, 0, 1f, 0f, 1f, -1, 0f, 0f, seeds.nextLong());
                    String reply = session.generate(prompt, new Generation(sampling, 64, List.of()), t -> { }, () -> false).text();
                    total += Rewards.reward(p, "<think>\n" + reply);
                    count++;
                }
            }
        }
        return total / count;
    }

    @Test
    void aGrpoStepMakesTheRewardedReplyMoreLikelyAndTheOthersLess() {
        Parameters parameters = Parameters.of(SMALL);
        parameters.initialize(SMALL, 0.1, 21);
        java.util.SplittableRandom random = new java.util.SplittableRandom(22);
        int[] prompt = {1, 40, 41, 42, 43};
        List<int[]> prompts = new ArrayList<>();
        List<int[]> replies = new ArrayList<>();
        for (int g = 0; g < 4; g++) {
            int[] reply = new int[6];
            for (int i = 0; i < reply.length; i++) {
                reply[i] = random.nextInt(256);
            }
            prompts.add(prompt);
            replies.add(reply);
        }
        double[] reward = {1.1, 0, 0.1, 0};
        var settings = new Reinforcement.Settings(1, 1, 4, 6, 3e-3, 0, Grpo.Variant.GRPO, Grpo.Clip.GRPO, 1f);
        try (Parallel parallel = new Parallel(2)) {
            MiniDeepSeek policy = new MiniDeepSeek(SMALL, parameters, parallel);
            double[] before = replyLogprobs(policy, prompt, replies);
            AdamW adam = new AdamW(parameters.size(), 0.9, 0.95, 1e-8, 0);
            for (int step = 0; step < 5; step++) {
                Reinforcement.update(policy, null, adam, prompts, replies, reward, settings, 0);
            }
            double[] after = replyLogprobs(policy, prompt, replies);
            assertThat(after[0]).as("the best reply").isGreaterThan(before[0] + 1);
            assertThat(after[1]).as("a reply with no reward").isLessThan(before[1]);
            assertThat(after[3]).as("a reply with no reward").isLessThan(before[3]);
        }
    }

    /** Each reply's log-probability after the prompt. */
    private static double[] replyLogprobs(MiniDeepSeek model, int[] prompt, List<int[]> replies) {
        double[] out = new double[replies.size()];
        for (int r = 0; r < replies.size(); r++) {
            int[] chat = java.util.Arrays.copyOf(prompt, prompt.length + replies.get(r).length);
            System.arraycopy(replies.get(r), 0, chat, prompt.length, replies.get(r).length);
            int[] inputs = java.util.Arrays.copyOf(chat, chat.length - 1);
            int[] targets = java.util.Arrays.copyOfRange(chat, 1, chat.length);
            model.forward(inputs, 1, inputs.length);
            double[] logprobs = model.logProbabilities(targets);
            for (int i = prompt.length - 1; i < targets.length; i++) {
                out[r] += logprobs[i];
            }
        }
        return out;
    }

    @Test
    void aRunKilledMidStageGoesOnFromItsCheckpointToTheSameLosses() throws Exception {
        BpeTrainer.Vocabulary vocabulary = Pipeline.vocabulary(SMALL.vocabulary(), 5);
        Curriculum curriculum = new Curriculum(vocabulary.tokenizer(Pipeline.BOS, Pipeline.EOS),
                new DeepSeekR1Template(Pipeline.BOS, true), Pipeline.BOS, 5);
        Trainer.Settings settings = new Trainer.Settings("sft", 30, 4, 160, new AdamW.Schedule(1e-2, 3, 30, 0.1), 1.0,
                0.01, 0.001, 10);
        List<Double> straight = train(curriculum, settings, dir.resolve("straight.ckpt"), -1);
        Path checkpoint = dir.resolve("killed.ckpt");
        assertThatThrownBy(() -> train(curriculum, settings, checkpoint, 25)).hasMessageContaining("killed");
        List<Double> resumed = train(curriculum, settings, checkpoint, -1);
        assertSameLosses(resumed, straight);
        assertThat(Files.exists(checkpoint.resolveSibling("killed.ckpt.partial"))).isFalse();
        // A finished stage is not run again.
        assertSameLosses(train(curriculum, settings, checkpoint, 0), straight);
    }

    /** The same losses bit for bit: the trainer's sums run in a fixed order, whatever the JIT has compiled. */
    private static void assertSameLosses(List<Double> actual, List<Double> expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.size(); i++) {
            assertThat(Double.doubleToLongBits(actual.get(i))).as("step %d: %s against %s", i + 1, actual.get(i),
                    expected.get(i)).isEqualTo(Double.doubleToLongBits(expected.get(i)));
        }
    }

    /** Trains a fresh model for {@code s}; the progress callback throws at step {@code killAt} (if positive). */
    private static List<Double> train(Curriculum curriculum, Trainer.Settings s, Path checkpoint, int killAt)
            throws Exception {
        Parameters parameters = Parameters.of(SMALL);
        parameters.initialize(SMALL, 0.02, 9);
        try (Parallel parallel = new Parallel(2)) {
            MiniDeepSeek model = new MiniDeepSeek(SMALL, parameters, parallel);
            return Trainer.run(model, s, step -> curriculum.fineTuning(step, s.rows(), s.length()), checkpoint,
                    (stage, step, steps, loss, tokensPerSecond, secondsLeft) -> {
                        if (step == killAt) {
                            throw new IllegalStateException("killed at step " + step);
                        }
                    });
        }
    }

    private static double mean(List<Double> xs) {
        return xs.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
    }
}
