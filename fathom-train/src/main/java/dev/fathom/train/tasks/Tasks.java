package dev.fathom.train.tasks;

import dev.fathom.train.tasks.Problem.Family;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * Problems of every family, phrased as a user would ask them, drawn from a seed. One problem in
 * {@value #HELD_OUT_ONE_IN} is held out (by a hash of its operands, whatever its phrasing): the
 * training draws never produce it, evaluation draws only it, so accuracy is measured on problems
 * the model has not seen.
 */
public final class Tasks {
    static final int HELD_OUT_ONE_IN = 10;

    private static final String[] ADD = {"What is %d + %d?", "Compute %d + %d.", "Calculate %d + %d.", "Add %d and %d.",
        "What is the sum of %d and %d?", "What is %d plus %d?", "%d + %d = ?", "%d + %d"};
    private static final String[] SUBTRACT = {"What is %d - %d?", "Compute %d - %d.", "Calculate %d - %d.",
        "What is %d minus %d?", "%d - %d = ?", "%d - %d"};
    /** "Subtract b from a" names the operands the other way round. */
    private static final String SUBTRACT_FROM = "Subtract %2$d from %1$d.";
    private static final String[] MULTIPLY = {"What is %d × %d?", "Compute %d × %d.", "Calculate %d × %d.",
        "Multiply %d by %d.", "What is %d times %d?", "What is %d * %d?", "What is %d x %d?", "%d × %d = ?", "%d * %d"};
    /** An operator sign between spaces, which people often leave out ("487+965"). */
    private static final Pattern SPACED_SIGN = Pattern.compile(" ([-+×*x]) (?=\\d)");

    private Tasks() {
    }

    /** A problem of {@code family} whose operands have {@code digits} digits (addition and subtraction). */
    public static Problem any(Family family, int digits, SplittableRandom random) {
        long a;
        long b;
        switch (family) {
            case ADDITION, SUBTRACTION -> {
                a = number(digits, random);
                b = number(digits, random);
            }
            case MULTIPLICATION_2X1 -> {
                a = number(2, random);
                b = 2 + random.nextInt(8);
            }
            case MULTIPLICATION_2X2 -> {
                a = number(2, random);
                b = number(2, random);
            }
            default -> throw new AssertionError(family);
        }
        String question;
        if (family == Family.SUBTRACTION && random.nextInt(SUBTRACT.length + 1) == 0) {
            question = String.format(SUBTRACT_FROM, a, b);
        } else {
            String[] forms = switch (family) {
                case ADDITION -> ADD;
                case SUBTRACTION -> SUBTRACT;
                case MULTIPLICATION_2X1, MULTIPLICATION_2X2 -> MULTIPLY;
            };
            question = String.format(forms[random.nextInt(forms.length)], a, b);
        }
        return new Problem(family, a, b, casually(question, random));
    }

    /**
     * The question as people also type it: without its final mark, with a small first letter, or
     * with no spaces around the sign. A model that saw only tidy questions misreads the others (it
     * read "Compute 23 × 47", without the full stop, as 23 × 4).
     */
    private static String casually(String question, SplittableRandom random) {
        if (random.nextInt(3) == 0 && (question.endsWith(".") || question.endsWith("?"))) {
            question = question.substring(0, question.length() - 1);
        }
        if (random.nextInt(4) == 0) {
            question = Character.toLowerCase(question.charAt(0)) + question.substring(1);
        }
        if (random.nextInt(4) == 0) {
            question = SPACED_SIGN.matcher(question).replaceFirst("$1");
        }
        return question;
    }

    /** A problem for training: never a held-out one. */
    public static Problem training(Family family, int digits, SplittableRandom random) {
        while (true) {
            Problem p = any(family, digits, random);
            if (!isHeldOut(p)) {
                return p;
            }
        }
    }

    /**
     * {@code count} distinct held-out problems, for evaluation; all of them where fewer exist (2×1
     * products: 72).
     */
    public static List<Problem> heldOut(Family family, int digits, int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        List<Problem> out = new ArrayList<>();
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int tries = 0; out.size() < count; tries++) {
            if (tries > 1000 * count) {
                return out; // the draws keep finding the same ones: that is all there are
            }
            Problem p = any(family, digits, random);
            if (isHeldOut(p) && seen.add(p.expression())) {
                out.add(p);
            }
        }
        return out;
    }

    /** Whether {@code p} belongs to the held-out set: decided by its family and operands alone. */
    public static boolean isHeldOut(Problem p) {
        long h = (p.family().ordinal() + 1) * 0x9E3779B97F4A7C15L ^ p.a() * 0xBF58476D1CE4E5B9L ^ p.b() * 0x94D049BB133111EBL;
        h ^= h >>> 31;
        h *= 0xD6E8FEB86659FD93L;
        h ^= h >>> 32;
        return Math.floorMod(h, HELD_OUT_ONE_IN) == 0;
    }

    /** A number of exactly {@code digits} digits. */
    private static long number(int digits, SplittableRandom random) {
        long low = digits == 1 ? 0 : (long) Math.pow(10, digits - 1);
        long high = (long) Math.pow(10, digits);
        return random.nextLong(low, high);
    }
}
