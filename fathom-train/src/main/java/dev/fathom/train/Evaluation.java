package dev.fathom.train;

import dev.fathom.model.Model;
import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tasks.Problem.Family;
import dev.fathom.train.tasks.Rewards;
import dev.fathom.train.tasks.Tasks;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Accuracy on held-out problems (never seen in training), bucket by bucket, with the engine's
 * own generation code on the model's GGUF file: greedy pass@1, the way a user of {@code fathom
 * chat} meets the model; and from k sampled replies per problem, the share of them that is right
 * (R1's pass@1, estimated from k samples), maj@k (the most frequent answer is right, as R1's
 * "cons@64") and pass@k (some answer is right).
 */
public final class Evaluation {
    /** The buckets reported: additions and subtractions of 2, 3 and 4 digits, the two multiplications. */
    public static final List<Bucket> BUCKETS = List.of(new Bucket(Family.ADDITION, 2), new Bucket(Family.ADDITION, 3),
            new Bucket(Family.ADDITION, 4), new Bucket(Family.SUBTRACTION, 2), new Bucket(Family.SUBTRACTION, 3),
            new Bucket(Family.SUBTRACTION, 4), new Bucket(Family.MULTIPLICATION_2X1, 2),
            new Bucket(Family.MULTIPLICATION_2X2, 2));

    /** A family at a size. */
    public record Bucket(Family family, int digits) {
        public String label() {
            return Tasks.any(family, digits, new SplittableRandom(0)).bucket();
        }
    }

    /**
     * What is measured: {@code perBucket} held-out problems of each bucket (the same ones for the
     * same seed), replies of at most {@code maxTokens}; {@code samples} sampled replies per problem
     * (0: greedy only) at {@code temperature} and {@code topP}.
     */
    public record Settings(int perBucket, long seed, int maxTokens, int samples, float temperature, float topP) {
        public static Settings greedy(int perBucket, long seed, int maxTokens) {
            return new Settings(perBucket, seed, maxTokens, 0, 0, 1);
        }
    }

    /**
     * A bucket's score: of {@code total} problems, how many the greedy reply got right and how
     * many it wrote in the right form; with samples, how many sampled replies were right (of k per
     * problem), and on how many problems the majority answer and any answer were.
     */
    public record Score(Bucket bucket, int total, int greedy, int wellFormed, int sampled, int majority, int any) {
        public double accuracy() {
            return (double) greedy / total;
        }
    }

    private Evaluation() {
    }

    /** Greedy pass@1 on {@code perBucket} held-out problems of each bucket. */
    public static List<Score> greedy(Model model, int perBucket, long seed, int maxTokens) {
        return run(model, Settings.greedy(perBucket, seed, maxTokens), score -> { });
    }

    /**
     * Scores every bucket, telling {@code progress} of each as it is done; sampled replies draw from
     * a stream seeded by the settings' seed, so a run repeats.
     */
    public static List<Score> run(Model model, Settings s, Consumer<Score> progress) {
        ChatTemplate template = model.chatTemplate();
        SplittableRandom seeds = new SplittableRandom(s.seed());
        SamplerSettings greedy = SamplerSettings.greedy();
        List<Score> scores = new ArrayList<>();
        try (Session session = model.newSession(512, 512)) {
            for (Bucket bucket : BUCKETS) {
                int greedyRight = 0;
                int wellFormed = 0;
                int sampled = 0;
                int majority = 0;
                int any = 0;
                List<Problem> problems = Tasks.heldOut(bucket.family(), bucket.digits(), s.perBucket(), s.seed());
                for (Problem p : problems) {
                    int[] prompt = prompt(model, template, p);
                    String reply = reply(template, session, prompt, greedy, s.maxTokens());
                    greedyRight += Rewards.correct(p, reply) ? 1 : 0;
                    wellFormed += Rewards.wellFormed(reply) ? 1 : 0;
                    if (s.samples() > 0) {
                        List<Long> answers = new ArrayList<>();
                        for (int k = 0; k < s.samples(); k++) {
                            SamplerSettings sampling = new SamplerSettings(s.temperature(), 0, s.topP(), 0f, 1f, -1, 0f, 0f,
                                    seeds.nextLong());
                            answers.add(Rewards.answer(reply(template, session, prompt, sampling, s.maxTokens())));
                        }
                        int right = (int) answers.stream().filter(a -> a != null && a == p.answer()).count();
                        sampled += right;
                        Long vote = mostFrequent(answers);
                        majority += vote != null && vote == p.answer() ? 1 : 0;
                        any += right > 0 ? 1 : 0;
                    }
                }
                scores.add(new Score(bucket, problems.size(), greedyRight, wellFormed, sampled, majority, any));
                progress.accept(scores.getLast());
            }
        }
        return scores;
    }

    /** The answer given most often (of equally frequent ones, the first to get there); replies without one do not vote. */
    static Long mostFrequent(List<Long> answers) {
        Map<Long, Integer> votes = new HashMap<>();
        Long best = null;
        for (Long a : answers) {
            if (a != null && votes.merge(a, 1, Integer::sum) > votes.getOrDefault(best, 0)) {
                best = a;
            }
        }
        return best;
    }

    /** The model's greedy reply to {@code p}, as the chat shows it (reasoning, then answer). */
    public static String reply(Model model, ChatTemplate template, Session session, Problem p, int maxTokens) {
        return reply(template, session, prompt(model, template, p), SamplerSettings.greedy(), maxTokens);
    }

    /** The chat that asks {@code p}, as tokens, up to where the reply begins. */
    private static int[] prompt(Model model, ChatTemplate template, Problem p) {
        return model.chatTokens(template.render(List.of(ChatMessage.user(p.question())), true));
    }

    /** A reply to {@code prompt} as the chat shows it (the reasoning's opening tag first, where the prompt wrote it). */
    private static String reply(ChatTemplate template, Session session, int[] prompt, SamplerSettings sampling,
            int maxTokens) {
        String text = session.generate(prompt, new Generation(sampling, maxTokens, List.of()), s -> { }, () -> false).text();
        return (template.opensThinking() ? "<think>\n" : "") + text;
    }

    /**
     * The scores of one or more models as a Markdown table: a row per bucket, per model a column of
     * greedy pass@1 and, where it sampled {@code samples} replies per problem, sampled pass@1, maj@k and pass@k.
     */
    public static String table(Map<String, List<Score>> models, int samples) {
        StringBuilder out = new StringBuilder("| bucket |");
        int columns = 0;
        for (String name : models.keySet()) {
            String prefix = models.size() > 1 ? name + ": " : "";
            out.append(' ').append(prefix).append("greedy pass@1 |");
            if (samples > 0) {
                out.append(' ').append(prefix).append("sampled pass@1 |");
                out.append(' ').append(prefix).append("maj@").append(samples).append(" |");
                out.append(' ').append(prefix).append("pass@").append(samples).append(" |");
            }
            columns += samples > 0 ? 4 : 1;
        }
        out.append("\n|---|").append("---|".repeat(columns)).append('\n');
        for (int i = 0; i < BUCKETS.size(); i++) {
            out.append("| ").append(BUCKETS.get(i).label()).append(" |");
            for (List<Score> scores : models.values()) {
                Score s = scores.get(i);
                out.append(cell(s.greedy(), s.total()));
                if (samples > 0) {
                    out.append(String.format(" %.1f%% |", 100.0 * s.sampled() / ((long) s.total() * samples)));
                    out.append(cell(s.majority(), s.total())).append(cell(s.any(), s.total()));
                }
            }
            out.append('\n');
        }
        return out.toString();
    }

    private static String cell(int right, int total) {
        return String.format(" %.0f%% (%d/%d) |", 100.0 * right / total, right, total);
    }
}
