package dev.fathom.train;

import dev.fathom.model.Model;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import dev.fathom.tensor.GgmlType;
import dev.fathom.train.data.Curriculum;
import dev.fathom.train.model.GgufExport;
import dev.fathom.train.model.MiniDeepSeek;
import dev.fathom.train.optim.AdamW;
import dev.fathom.train.rl.Grpo;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tasks.Rewards;
import dev.fathom.train.tokenizer.BpeTrainer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

/**
 * GRPO, as R1 used it, on rewards a program checks: for each of a few training problems the
 * current policy samples a group of replies (with the engine's own generation code, on the
 * policy written as GGUF), each reply is rewarded (right answer; well-formed reasoning then
 * answer), advantages are normalised within the group, and one step of the clipped objective
 * (with an optional k3 KL penalty towards the fine-tuned reference) moves the policy.
 */
public final class Reinforcement {
    /**
     * @param prompts problems per step (with DAPO: problems whose group has both right and wrong replies)
     * @param group replies sampled per problem
     * @param maxTokens the longest reply
     * @param beta the KL penalty's weight (0: none, as DAPO)
     */
    public record Settings(int steps, int prompts, int group, int maxTokens, double learningRate, double beta,
            Grpo.Variant variant, Grpo.Clip clip, float temperature) {
    }

    /** Hears of each step: the mean reward and the share of right answers among its replies. */
    public interface Progress {
        void step(int step, int steps, double meanReward, double accuracy, double secondsLeft);
    }

    /** Rows per forward and backward pass of an update. */
    private static final int CHUNK = 16;
    /** With DAPO's dynamic sampling, the most problems drawn per step, in multiples of the problems a step keeps. */
    private static final int MOST_DRAWS = 4;

    private Reinforcement() {
    }

    /**
     * Runs the steps on {@code policy}, each on problems drawn by {@code problems}; {@code reference} (may be
     * null when beta is 0) stays as it is. Returns each step's mean reward.
     */
    public static List<Double> run(MiniDeepSeek policy, MiniDeepSeek reference, Curriculum curriculum,
            Function<SplittableRandom, Problem> problems, BpeTrainer.Vocabulary vocabulary, String template, Settings s,
            Path work, long seed, int threads, Progress progress) throws IOException {
        AdamW adam = new AdamW(policy.parameters().size(), 0.9, 0.95, 1e-8, 0);
        List<Double> rewards = new ArrayList<>();
        Path checkpoint = work.resolve("grpo.ckpt");
        int first = Files.exists(checkpoint) ? Trainer.restore(checkpoint, "grpo", policy, adam, rewards) : 0;
        Path sampler = work.resolve("policy.gguf");
        long started = System.nanoTime();
        for (int step = first; step < s.steps(); step++) {
            SplittableRandom random = new SplittableRandom(seed * 41 + step);
            GgufExport.write(policy, vocabulary, Pipeline.BOS, Pipeline.EOS, template, "policy", GgmlType.F32, Map.of(), sampler);
            List<int[]> prompts = new ArrayList<>();
            List<int[]> replies = new ArrayList<>();
            List<Double> kept = new ArrayList<>();
            double rewardSum = 0;
            int sampled = 0;
            int correct = 0;
            try (Model model = Model.open(sampler, threads); Session session = model.newSession(512, 512)) {
                for (int drawn = 0; prompts.size() < s.prompts() * s.group() && drawn < s.prompts() * MOST_DRAWS; drawn++) {
                    Problem problem = problems.apply(random);
                    int[] prompt = curriculum.prompt(problem);
                    int[][] group = new int[s.group()][];
                    double[] groupReward = new double[s.group()];
                    int groupCorrect = 0;
                    for (int g = 0; g < s.group(); g++) {
                        SamplerSettings sampling = new SamplerSettings(s.temperature(), 0, 1f, 0f, 1f, -1, 0f, 0f,
                                random.nextLong());
                        Generation.Result result = session.generate(prompt, new Generation(sampling, s.maxTokens(), List.of()),
                                text -> { }, () -> false);
                        int[] reply = result.tokens();
                        if (result.stopReason() == StopReason.END_OF_GENERATION) {
                            reply = Arrays.copyOf(reply, reply.length + 1);
                            reply[reply.length - 1] = model.tokenizer().eos();
                        }
                        String text = "<think>\n" + result.text();
                        group[g] = reply;
                        groupReward[g] = Rewards.reward(problem, text);
                        groupCorrect += Rewards.correct(problem, text) ? 1 : 0;
                    }
                    sampled += s.group();
                    correct += groupCorrect;
                    rewardSum += Arrays.stream(groupReward).sum();
                    // DAPO's dynamic sampling: a group all right or all wrong has no advantage to learn from;
                    // draw another problem in its place (up to a bound, so that a step's time stays bounded).
                    if (s.variant() == Grpo.Variant.DAPO && (groupCorrect == 0 || groupCorrect == s.group())) {
                        continue;
                    }
                    for (int g = 0; g < s.group(); g++) {
                        prompts.add(prompt);
                        replies.add(group[g]);
                        kept.add(groupReward[g]);
                    }
                }
            }
            double[] reward = kept.stream().mapToDouble(Double::doubleValue).toArray();
            if (!prompts.isEmpty()) {
                update(policy, reference, adam, prompts, replies, reward, s, vocabulary.id(Pipeline.EOS));
            }
            double mean = rewardSum / sampled;
            rewards.add(mean);
            double perStep = (System.nanoTime() - started) / 1e9 / (step - first + 1);
            progress.step(step + 1, s.steps(), mean, (double) correct / sampled, perStep * (s.steps() - step - 1));
            if ((step + 1) % 10 == 0 || step + 1 == s.steps()) {
                Trainer.save(checkpoint, "grpo", step + 1, policy, adam, rewards);
            }
        }
        Files.deleteIfExists(sampler);
        return rewards;
    }

    /** One step of the clipped objective over the sampled replies (each group's advantages from its rewards). */
    static void update(MiniDeepSeek policy, MiniDeepSeek reference, AdamW adam, List<int[]> prompts,
            List<int[]> replies, double[] reward, Settings s, int eos) {
        int rows = prompts.size();
        int length = 0;
        for (int i = 0; i < rows; i++) {
            length = Math.max(length, prompts.get(i).length + replies.get(i).length - 1);
        }
        length = Math.min(length, policy.config().context());
        int[] inputs = new int[rows * length];
        int[] targets = new int[rows * length];
        boolean[] scored = new boolean[rows * length];
        double[] advantage = new double[rows * length];
        double[] weight = new double[rows * length];
        for (int p = 0; p < rows / s.group(); p++) {
            double[] group = Arrays.copyOfRange(reward, p * s.group(), (p + 1) * s.group());
            double[] advantages = Grpo.advantages(group, s.variant());
            int[] lengths = new int[s.group()];
            for (int g = 0; g < s.group(); g++) {
                lengths[g] = replies.get(p * s.group() + g).length;
            }
            for (int g = 0; g < s.group(); g++) {
                int r = p * s.group() + g;
                int[] prompt = prompts.get(r);
                int[] reply = replies.get(r);
                int[] chat = Arrays.copyOf(prompt, prompt.length + reply.length);
                System.arraycopy(reply, 0, chat, prompt.length, reply.length);
                double w = Grpo.weight(s.variant(), lengths, reply.length);
                for (int i = 0; i < length; i++) {
                    int at = r * length + i;
                    inputs[at] = i < chat.length ? chat[i] : eos;
                    targets[at] = i + 1 < chat.length ? chat[i + 1] : inputs[at];
                    scored[at] = i + 1 >= prompt.length && i + 1 < chat.length;
                    advantage[at] = advantages[g];
                    weight[at] = w;
                }
            }
        }
        // A few rows at a time, the gradients adding up: the attention weights of every row at once would not fit.
        policy.zeroGradients();
        for (int first = 0; first < rows; first += CHUNK) {
            int count = Math.min(CHUNK, rows - first);
            int from = first * length;
            int to = (first + count) * length;
            int[] chunkInputs = Arrays.copyOfRange(inputs, from, to);
            int[] chunkTargets = Arrays.copyOfRange(targets, from, to);
            policy.forward(chunkInputs, count, length);
            double[] logprobs = policy.logProbabilities(chunkTargets);
            double[] refLogprobs = null;
            if (s.beta() != 0) {
                reference.forward(chunkInputs, count, length);
                refLogprobs = reference.logProbabilities(chunkTargets);
            }
            double[] coefficients = new double[to - from];
            for (int t = 0; t < coefficients.length; t++) {
                if (scored[from + t]) {
                    // One update per batch of samples: the sampling policy is the current one, ratio 1.
                    coefficients[t] = Grpo.term(logprobs[t], logprobs[t], refLogprobs == null ? 0 : refLogprobs[t],
                            advantage[from + t], s.clip(), s.beta(), weight[from + t]).coefficient();
                }
            }
            policy.backward(chunkTargets, coefficients);
        }
        AdamW.clipNorm(policy.gradients().values(), 1.0);
        adam.step(policy.parameters().values(), policy.gradients().values(), s.learningRate());
    }
}
