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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Accuracy on held-out problems (never seen in training), bucket by bucket, with the engine's
 * own generation code on the model's GGUF file: greedy pass@1, the way a user of {@code fathom
 * chat} meets the model.
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
            return Tasks.any(family, digits, new java.util.SplittableRandom(0)).bucket();
        }
    }

    /** A bucket's score. */
    public record Score(Bucket bucket, int correct, int wellFormed, int total) {
        public double accuracy() {
            return (double) correct / total;
        }
    }

    private Evaluation() {
    }

    /** Greedy pass@1 on {@code perBucket} held-out problems of each bucket (the same ones for the same seed). */
    public static List<Score> greedy(Model model, int perBucket, long seed, int maxTokens) {
        ChatTemplate template = model.chatTemplate();
        List<Score> scores = new ArrayList<>();
        try (Session session = model.newSession(512, 512)) {
            for (Bucket bucket : BUCKETS) {
                int correct = 0;
                int wellFormed = 0;
                List<Problem> problems = Tasks.heldOut(bucket.family(), bucket.digits(), perBucket, seed);
                for (Problem p : problems) {
                    String reply = reply(model, template, session, p, maxTokens);
                    correct += Rewards.correct(p, reply) ? 1 : 0;
                    wellFormed += Rewards.wellFormed(reply) ? 1 : 0;
                }
                scores.add(new Score(bucket, correct, wellFormed, problems.size()));
            }
        }
        return scores;
    }

    /** The model's greedy reply to {@code p}, as the chat shows it (reasoning, then answer). */
    public static String reply(Model model, ChatTemplate template, Session session, Problem p, int maxTokens) {
        int[] prompt = model.chatTokens(template.render(List.of(ChatMessage.user(p.question())), true));
        String text = session.generate(prompt, new Generation(SamplerSettings.greedy(), maxTokens, List.of()), s -> { },
                () -> false).text();
        return (template.opensThinking() ? "<think>\n" : "") + text;
    }

    /** The scores as a Markdown table. */
    public static String table(Map<String, List<Score>> columns) {
        StringBuilder out = new StringBuilder("| bucket |");
        columns.keySet().forEach(k -> out.append(' ').append(k).append(" |"));
        out.append("\n|---|");
        columns.keySet().forEach(k -> out.append("---|"));
        out.append('\n');
        for (int i = 0; i < BUCKETS.size(); i++) {
            out.append("| ").append(BUCKETS.get(i).label()).append(" |");
            for (List<Score> scores : columns.values()) {
                Score s = scores.get(i);
                out.append(String.format(" %.0f%% (%d/%d) |", 100 * s.accuracy(), s.correct(), s.total()));
            }
            out.append('\n');
        }
        return out.toString();
    }

    /** One column's scores under its name, for {@link #table}. */
    public static Map<String, List<Score>> column(String name, List<Score> scores) {
        Map<String, List<Score>> m = new LinkedHashMap<>();
        m.put(name, scores);
        return m;
    }
}
