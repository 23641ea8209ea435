package dev.fathom.train.tasks;

/**
 * One arithmetic problem: its family, operands, the question as a user would ask it, and the
 * exact answer. The worked solution, reasoning then answer, comes from {@link #solution()}.
 */
public record Problem(Family family, long a, long b, String question) {

    /** The kinds of problem, each with the size that makes it hard. */
    public enum Family {
        /** a + b, both with {@code digits} digits. */
        ADDITION,
        /** a − b (either may be larger), both with {@code digits} digits. */
        SUBTRACTION,
        /** A two-digit number times a one-digit one. */
        MULTIPLICATION_2X1,
        /** Two two-digit numbers. */
        MULTIPLICATION_2X2
    }

    /** The exact result. */
    public long answer() {
        return switch (family) {
            case ADDITION -> a + b;
            case SUBTRACTION -> a - b;
            case MULTIPLICATION_2X1, MULTIPLICATION_2X2 -> a * b;
        };
    }

    /** The operation as written in the reasoning, e.g. {@code 487 + 965}. */
    public String expression() {
        String op = switch (family) {
            case ADDITION -> " + ";
            case SUBTRACTION -> " - ";
            case MULTIPLICATION_2X1, MULTIPLICATION_2X2 -> " × ";
        };
        return a + op + b;
    }

    /** The difficulty bucket for reports: the family and the operands' digits, e.g. {@code addition 3-digit}. */
    public String bucket() {
        return switch (family) {
            case ADDITION -> "addition " + digits(a) + "-digit";
            case SUBTRACTION -> "subtraction " + digits(Math.max(a, b)) + "-digit";
            case MULTIPLICATION_2X1 -> "multiplication 2×1";
            case MULTIPLICATION_2X2 -> "multiplication 2×2";
        };
    }

    /** The worked solution as the model should write it: the reasoning in {@code <think>}, then the answer. */
    public String solution() {
        return "<think>\n" + Traces.reasoning(this) + "</think>\n\n" + answer();
    }

    static int digits(long n) {
        return Long.toString(Math.abs(n)).length();
    }
}
