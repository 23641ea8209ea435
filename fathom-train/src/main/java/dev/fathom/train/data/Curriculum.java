package dev.fathom.train.data;

import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tasks.Problem.Family;
import dev.fathom.train.tasks.Tasks;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * What the model reads at each stage, drawn from the task generators (never a held-out
 * problem): for pretraining, worked problems as plain text packed end to end, every token
 * predicted; for fine-tuning, one chat per row in the model's template, only the assistant's
 * tokens (its reasoning, answer and end of turn) in the loss. A batch depends on its seed and
 * step alone, so a run resumed from a checkpoint sees the batches it would have seen.
 */
public final class Curriculum {
    /** One batch: {@code rows} rows of {@code length} tokens, the token each position predicts, and its weight in the loss. */
    public record Batch(int rows, int length, int[] inputs, int[] targets, double[] weights) {
    }

    private final Tokenizer tokenizer;
    private final ChatTemplate template;
    private final String bosText;
    private final long seed;

    public Curriculum(Tokenizer tokenizer, ChatTemplate template, String bosText, long seed) {
        this.tokenizer = tokenizer;
        this.template = template;
        this.bosText = bosText;
        this.seed = seed;
    }

    /**
     * A problem in the training mix: additions and subtractions of 1 to 4 digits (mostly 3 and 4,
     * the longest columns being the hardest to keep in line), and both multiplication families
     * (2×1 products, the easiest, least).
     */
    public static Problem draw(SplittableRandom random) {
        int pick = random.nextInt(100);
        Family family = pick < 38 ? Family.ADDITION : pick < 76 ? Family.SUBTRACTION
                : pick < 84 ? Family.MULTIPLICATION_2X1 : Family.MULTIPLICATION_2X2;
        int d = random.nextInt(20);
        int digits = d < 2 ? 1 : d < 6 ? 2 : d < 13 ? 3 : 4;
        return Tasks.training(family, digits, random);
    }

    /**
     * A problem for reinforcement, from the buckets a fine-tuned model still gets wrong at times:
     * 2×2 products (the longest reasoning) and 4- and 3-digit subtractions (borrows carried across
     * columns). Only there do the replies of a group differ often enough to carry a signal: a group
     * all right or all wrong teaches nothing.
     */
    public static Problem drawWeakest(SplittableRandom random) {
        int pick = random.nextInt(100);
        if (pick < 40) {
            return Tasks.training(Family.MULTIPLICATION_2X2, 2, random);
        }
        return Tasks.training(Family.SUBTRACTION, pick < 80 ? 4 : 3, random);
    }

    /** The prompt of a chat that asks {@code p}, up to where the assistant's reply begins (BOS first). */
    public int[] prompt(Problem p) {
        String rendered = template.render(List.of(ChatMessage.user(p.question())), true);
        return tokenizer.encode(ChatTemplate.stripBos(rendered, bosText), true, true);
    }

    /** The assistant's reply to {@code p} as the model should write it after the prompt: reasoning, answer, end of turn. */
    public int[] reply(Problem p) {
        String solution = p.solution();
        String opened = "<think>\n";
        String reply = template.opensThinking() && solution.startsWith(opened) ? solution.substring(opened.length()) : solution;
        int[] tokens = tokenizer.encode(reply, false, true);
        int[] out = Arrays.copyOf(tokens, tokens.length + 1);
        out[tokens.length] = tokenizer.eos();
        return out;
    }

    /** Pretraining batch {@code step}: worked problems as text (question, reasoning, answer), packed into rows. */
    public Batch pretraining(int step, int rows, int length) {
        SplittableRandom random = new SplittableRandom(seed * 31 + step);
        int[] stream = new int[rows * length + 1];
        int filled = 0;
        while (filled < stream.length) {
            Problem p = draw(random);
            int[] doc = tokenizer.encode(p.question() + "\n" + p.solution(), true, true);
            int n = Math.min(doc.length, stream.length - filled);
            System.arraycopy(doc, 0, stream, filled, n);
            filled += n;
            if (filled < stream.length) {
                stream[filled++] = tokenizer.eos();
            }
        }
        int[] inputs = Arrays.copyOf(stream, rows * length);
        int[] targets = Arrays.copyOfRange(stream, 1, rows * length + 1);
        double[] weights = new double[inputs.length];
        Arrays.fill(weights, 1);
        return new Batch(rows, length, inputs, targets, weights);
    }

    /** Fine-tuning batch {@code step}: one chat per row, the loss on the reply only; rows padded with end-of-text. */
    public Batch fineTuning(int step, int rows, int length) {
        SplittableRandom random = new SplittableRandom(seed * 37 + step);
        int[] inputs = new int[rows * length];
        int[] targets = new int[rows * length];
        double[] weights = new double[rows * length];
        Arrays.fill(inputs, tokenizer.eos());
        Arrays.fill(targets, tokenizer.eos());
        for (int r = 0; r < rows; r++) {
            int[] prompt;
            int[] reply;
            do {
                Problem p = draw(random);
                prompt = prompt(p);
                reply = reply(p);
            } while (prompt.length + reply.length > length + 1);
            int[] chat = Arrays.copyOf(prompt, prompt.length + reply.length);
            System.arraycopy(reply, 0, chat, prompt.length, reply.length);
            for (int i = 0; i + 1 < chat.length; i++) {
                inputs[r * length + i] = chat[i];
                targets[r * length + i] = chat[i + 1];
                weights[r * length + i] = i + 1 >= prompt.length ? 1 : 0;
            }
        }
        return new Batch(rows, length, inputs, targets, weights);
    }
}
