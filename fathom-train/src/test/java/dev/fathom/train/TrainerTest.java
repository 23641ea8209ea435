package dev.fathom.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.Model;
import dev.fathom.model.chat.DeepSeekR1Template;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import dev.fathom.train.data.Curriculum;
import dev.fathom.train.model.MiniDeepSeek;
import dev.fathom.train.model.ModelConfig;
import dev.fathom.train.model.Parameters;
import dev.fathom.train.optim.AdamW;
import dev.fathom.train.rl.Grpo;
import dev.fathom.train.tasks.Rewards;
import dev.fathom.train.tokenizer.BpeTrainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
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
        }
    }

    @Test
    void theGrpoStageSamplesWithTheEngineAndCheckpoints() throws Exception {
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

    /**
     * The same losses, to the last bits the JIT leaves alone: a vector FMA fused once compiled but
     * not while interpreted rounds differently, so two runs of the same steps agree to about 1e-15.
     */
    private static void assertSameLosses(List<Double> actual, List<Double> expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.size(); i++) {
            assertThat(actual.get(i)).as("step %d", i + 1).isCloseTo(expected.get(i), org.assertj.core.data.Offset.offset(1e-9));
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
