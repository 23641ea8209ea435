package dev.fathom.train.tasks;

/**
 * Worked reasoning for each family, one small step per line, written the way a pupil would and
 * the way a small model can learn: digits from the right, carries and borrows said out loud,
 * multiplication as partial products that are then added up with the same steps as an addition.
 * Numbers are written plainly, so that a tokenizer that splits digits sees every one.
 */
final class Traces {
    private Traces() {
    }

    /** The reasoning for {@code p}, ending with a line that states the result. */
    static String reasoning(Problem p) {
        StringBuilder out = new StringBuilder();
        switch (p.family()) {
            case ADDITION -> add(p.a(), p.b(), out);
            case SUBTRACTION -> subtract(p.a(), p.b(), out);
            case MULTIPLICATION_2X1 -> multiplyByDigit(p.a(), p.b(), out);
            case MULTIPLICATION_2X2 -> multiply(p.a(), p.b(), out);
        }
        out.append(p.expression()).append(" = ").append(p.answer()).append(".\n");
        return out.toString();
    }

    /** Column addition of two non-negative numbers. */
    private static void add(long a, long b, StringBuilder out) {
        out.append("Add ").append(a).append(" and ").append(b).append(" digit by digit, from the right.\n");
        String x = Long.toString(a);
        String y = Long.toString(b);
        int carry = 0;
        for (int i = 0; i < Math.max(x.length(), y.length()); i++) {
            int d = digit(x, i);
            int e = digit(y, i);
            int sum = d + e + carry;
            out.append(d).append(" + ").append(e);
            if (carry > 0) {
                out.append(" + ").append(carry);
            }
            out.append(" = ").append(sum).append(", write ").append(sum % 10);
            carry = sum / 10;
            out.append(carry > 0 ? ", carry " + carry + ".\n" : ".\n");
        }
        if (carry > 0) {
            out.append("The last carry ").append(carry).append(" leads.\n");
        }
    }

    /**
     * Column subtraction, after deciding which number is the larger (digit by digit from the left,
     * said out loud: a small model gets the comparison wrong in one step when the leading digits
     * agree); when b is the larger, the other way round and negated.
     */
    private static void subtract(long a, long b, StringBuilder out) {
        compare(a, b, out);
        if (a < b) {
            out.append("Subtract ").append(a).append(" from ").append(b).append(" and make it negative.\n");
            subtractColumns(b, a, out);
            out.append(b).append(" - ").append(a).append(" = ").append(b - a).append(", so the result is ")
                    .append(a - b).append(".\n");
        } else {
            subtractColumns(a, b, out);
        }
    }

    /** Which of two non-negative numbers is the larger: by length, else by the first digit from the left that differs. */
    private static void compare(long a, long b, StringBuilder out) {
        String x = Long.toString(a);
        String y = Long.toString(b);
        out.append("Compare ").append(a).append(" and ").append(b);
        if (x.length() != y.length()) {
            out.append(": ").append(x.length() > y.length() ? a : b).append(" has more digits");
        } else {
            out.append(" from the left:");
            int i = 0;
            while (i < x.length() && x.charAt(i) == y.charAt(i)) {
                out.append(i > 0 ? ", " : " ").append(x.charAt(i)).append(" = ").append(y.charAt(i));
                i++;
            }
            if (i == x.length()) {
                out.append(", they are equal.\n");
                return;
            }
            out.append(i > 0 ? ", " : " ").append(x.charAt(i)).append(x.charAt(i) > y.charAt(i) ? " > " : " < ")
                    .append(y.charAt(i));
        }
        out.append(", so ").append(Math.max(a, b)).append(" is larger.\n");
    }

    /**
     * Columns from the right. A borrow owed to a column is paid first, as its own step ({@code 7 - 1 = 6}, or
     * {@code 0 - 1 is below 0, borrow: 10 - 1 = 9}), so that every decision to borrow compares two digits.
     */
    private static void subtractColumns(long a, long b, StringBuilder out) {
        out.append("Subtract ").append(b).append(" from ").append(a).append(" digit by digit, from the right.\n");
        String x = Long.toString(a);
        String y = Long.toString(b);
        boolean borrowed = false;
        boolean leadingZeros = false;
        for (int i = 0; i < x.length(); i++) {
            int d = digit(x, i);
            int e = digit(y, i);
            boolean borrows = false;
            if (borrowed) {
                borrows = d == 0;
                out.append(d).append(" - 1").append(borrows ? " is below 0, borrow: 10 - 1 = 9" : " = " + (d - 1))
                        .append(", ");
                d = borrows ? 9 : d - 1;
            }
            int value = d - e;
            if (value < 0) {
                out.append(d).append(" - ").append(e).append(" is below 0, borrow: 1").append(d).append(" - ").append(e)
                        .append(" = ").append(value + 10).append(".\n");
                value += 10;
                borrows = true;
            } else {
                out.append(d).append(" - ").append(e).append(" = ").append(value).append(".\n");
            }
            borrowed = borrows;
            leadingZeros = value == 0 && i > 0;
        }
        if (leadingZeros && a - b != 0) {
            out.append("Drop the leading zeros.\n");
        }
    }

    /** A two-digit number times one digit: each digit from the right, with its carry. */
    private static void multiplyByDigit(long a, long b, StringBuilder out) {
        out.append("Multiply each digit of ").append(a).append(" by ").append(b).append(", from the right.\n");
        digitProducts(a, b, out, "\n");
    }

    /**
     * Writes the digit-by-digit products of a × one digit; lines end with {@code end}. A carry is added to
     * the product in a step of its own: a small model asked for {@code 7 × 4 + 1} at once often misses.
     */
    private static void digitProducts(long a, long b, StringBuilder out, String end) {
        String x = Long.toString(a);
        int carry = 0;
        for (int i = 0; i < x.length(); i++) {
            int d = digit(x, i);
            int product = d * (int) b + carry;
            out.append(d).append(" × ").append(b).append(" = ").append(d * b);
            if (carry > 0) {
                out.append(", ").append(d * b).append(" + ").append(carry).append(" = ").append(product);
            }
            boolean last = i == x.length() - 1;
            if (last) {
                out.append(", write ").append(product).append('.').append(end);
            } else {
                carry = product / 10;
                out.append(", write ").append(product % 10).append(carry > 0 ? ", carry " + carry : "").append('.')
                        .append(end);
            }
        }
    }

    /** Two two-digit numbers: split the second into tens and ones, two partial products, their sum. */
    private static void multiply(long a, long b, StringBuilder out) {
        long tens = b / 10 * 10;
        long ones = b % 10;
        out.append("Split ").append(b).append(" into ").append(tens).append(" + ").append(ones).append(".\n");
        out.append(a).append(" × ").append(ones).append(":\n");
        digitProducts(a, ones, out, "\n");
        out.append("So ").append(a).append(" × ").append(ones).append(" = ").append(a * ones).append(".\n");
        out.append(a).append(" × ").append(tens).append(" is ").append(a).append(" × ").append(tens / 10)
                .append(" with a 0 after it:\n");
        digitProducts(a, tens / 10, out, "\n");
        out.append("So ").append(a).append(" × ").append(tens).append(" = ").append(a * tens).append(".\n");
        add(a * ones, a * tens, out);
        out.append("So ").append(a * ones).append(" + ").append(a * tens).append(" = ").append(a * b).append(".\n");
    }

    /** The digit of {@code number} {@code i} places from the right, 0 past its length. */
    private static int digit(String number, int i) {
        int at = number.length() - 1 - i;
        return at >= 0 ? number.charAt(at) - '0' : 0;
    }
}
