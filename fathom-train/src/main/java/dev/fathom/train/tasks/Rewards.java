package dev.fathom.train.tasks;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The rule-based rewards of R1-Zero's recipe, which a program checks exactly: the answer after
 * the reasoning is the right number, and the reply has the right form (one {@code <think>} block,
 * closed, then the answer alone).
 */
public final class Rewards {
    /** Reward for a correct answer. */
    public static final double CORRECT = 1.0;
    /** Reward for the right form, whatever the answer. */
    public static final double FORMAT = 0.1;

    private static final Pattern NUMBER = Pattern.compile("-?\\d+");
    /** An optional opening tag (the R1 template writes it into the prompt), reasoning, the closing tag, a number. */
    private static final Pattern WELL_FORMED = Pattern.compile("\\s*(<think>)?(?!.*<think>)(?s:.+?)</think>\\s*-?\\d+\\s*");

    private Rewards() {
    }

    /** The answer of a reply: the last number after its last {@code </think>} (or anywhere, without one), or null. */
    public static Long answer(String reply) {
        int close = reply.lastIndexOf("</think>");
        String tail = close >= 0 ? reply.substring(close + "</think>".length()) : reply;
        Matcher m = NUMBER.matcher(tail);
        String last = null;
        while (m.find()) {
            last = m.group();
        }
        if (last == null) {
            return null;
        }
        try {
            return Long.parseLong(last);
        } catch (NumberFormatException e) {
            return null; // more digits than any answer has
        }
    }

    public static boolean correct(Problem p, String reply) {
        Long a = answer(reply);
        return a != null && a == p.answer();
    }

    public static boolean wellFormed(String reply) {
        return WELL_FORMED.matcher(reply).matches();
    }

    /** The reward of {@code reply} to {@code p}: {@link #CORRECT} if right, plus {@link #FORMAT} if well formed. */
    public static double reward(Problem p, String reply) {
        return (correct(p, reply) ? CORRECT : 0) + (wellFormed(reply) ? FORMAT : 0);
    }
}
