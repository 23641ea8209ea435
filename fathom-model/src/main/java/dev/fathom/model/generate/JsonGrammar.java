package dev.fathom.model.generate;

/**
 * A recognizer of one JSON value (RFC 8259), fed byte by byte: it says whether a byte may come
 * next, whether the value is complete, and how many bytes at least would complete it. Generation
 * in JSON mode feeds it each token's bytes, and offers the sampler only the tokens it accepts,
 * so the output always parses.
 *
 * <p>Bytes, not characters: tokens are byte sequences and may end inside a UTF-8 character. JSON's
 * syntax is ASCII; bytes from 0x80 up are accepted inside strings only. Two limits keep a
 * sampled document finite where the grammar alone would not: at most {@value #MAX_DEPTH} levels
 * of nesting and {@value #MAX_SPACE} whitespace bytes in a row.
 */
public final class JsonGrammar {
    static final int MAX_DEPTH = 32;
    static final int MAX_SPACE = 32;

    /** What may come next. */
    private enum State {
        VALUE, // a value: the document's, a member's after the colon, or an element after a comma
        FIRST_ELEMENT_OR_END, // after '['
        FIRST_KEY_OR_END, // after '{'
        KEY, // after a comma in an object
        COLON, // after a key
        AFTER_VALUE, // a comma or a closing bracket (or the end of the document)
        STRING, // inside a string
        ESCAPE, // after a backslash
        UNICODE, // inside \\uXXXX; hex digits left in {@code pending}
        MINUS, // after a leading '-'
        ZERO, // a number's integer part is 0
        INTEGER, // in a number's integer digits
        POINT, // after the decimal point
        FRACTION, // in the fraction's digits
        EXPONENT, // after e or E
        EXPONENT_SIGN, // after the exponent's sign
        EXPONENT_DIGITS, // in the exponent's digits
        LITERAL, // inside true, false or null; bytes left in {@code literal} from {@code pending}
        DONE // the document is complete
    }

    private static final byte OBJECT = 1;
    private static final byte ARRAY = 2;
    private static final byte[] TRUE = "true".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] FALSE = "false".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
    private static final byte[] NULL = "null".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    private final byte[] stack = new byte[MAX_DEPTH];
    private boolean objectOnly; // the document must be an object, as OpenAI's json_object mode promises
    private boolean started; // a byte other than whitespace has been read
    private int depth;
    private State state = State.VALUE;
    private boolean key; // the string being read is an object's key
    private byte[] literal;
    private int pending;
    private int spaces;

    /** A recognizer of any JSON value. */
    public JsonGrammar() {
    }

    /** A recognizer of a JSON object (the document's top level must be one). */
    public static JsonGrammar object() {
        JsonGrammar g = new JsonGrammar();
        g.objectOnly = true;
        return g;
    }

    /** Makes this recognizer's state a copy of {@code other}'s. */
    public void copyFrom(JsonGrammar other) {
        System.arraycopy(other.stack, 0, stack, 0, other.depth);
        objectOnly = other.objectOnly;
        started = other.started;
        depth = other.depth;
        state = other.state;
        key = other.key;
        literal = other.literal;
        pending = other.pending;
        spaces = other.spaces;
    }

    /** Whether the bytes so far form a whole JSON value (a number may still go on). */
    public boolean complete() {
        return depth == 0 && (state == State.DONE || state == State.AFTER_VALUE || numberCanEnd());
    }

    /** Whether the next byte is inside a string (not after a backslash): there any byte but '"', '\\' and controls keeps the state. */
    public boolean inString() {
        return state == State.STRING;
    }

    /** Whether more bytes could still extend a complete document (a top-level number's digits). */
    public boolean canGrow() {
        return numberCanEnd();
    }

    /** Feeds {@code bytes[from, to)}; returns false (and leaves the state undefined) at the first byte not allowed. */
    public boolean accept(byte[] bytes, int from, int to) {
        for (int i = from; i < to; i++) {
            if (!accept(bytes[i])) {
                return false;
            }
        }
        return true;
    }

    /** Feeds one byte; returns whether it was allowed (if not, the state is undefined). */
    public boolean accept(byte b) {
        int c = b & 0xFF;
        boolean space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
        if (space && state != State.STRING && state != State.ESCAPE && state != State.UNICODE && state != State.LITERAL) {
            if (numberCanEnd()) {
                state = afterValue();
            } else if (isNumber()) {
                return false;
            }
            return ++spaces <= MAX_SPACE;
        }
        spaces = 0;
        if (!started) {
            started = true;
            if (objectOnly && c != '{') {
                return false;
            }
        }
        switch (state) {
            case VALUE, FIRST_ELEMENT_OR_END -> {
                if (state == State.FIRST_ELEMENT_OR_END && c == ']') {
                    return close(ARRAY);
                }
                return startValue(c);
            }
            case FIRST_KEY_OR_END, KEY -> {
                if (state == State.FIRST_KEY_OR_END && c == '}') {
                    return close(OBJECT);
                }
                if (c != '"') {
                    return false;
                }
                key = true;
                state = State.STRING;
                return true;
            }
            case COLON -> {
                if (c != ':') {
                    return false;
                }
                state = State.VALUE;
                return true;
            }
            case AFTER_VALUE -> {
                return afterValueByte(c);
            }
            case STRING -> {
                if (c == '"') {
                    state = key ? State.COLON : afterValue();
                    key = false;
                } else if (c == '\\') {
                    state = State.ESCAPE;
                } else if (c < 0x20) {
                    return false; // control characters must be escaped
                }
                return true;
            }
            case ESCAPE -> {
                if (c == 'u') {
                    state = State.UNICODE;
                    pending = 4;
                    return true;
                }
                state = State.STRING;
                return "\"\\/bfnrt".indexOf(c) >= 0;
            }
            case UNICODE -> {
                if (Character.digit(c, 16) < 0) {
                    return false;
                }
                if (--pending == 0) {
                    state = State.STRING;
                }
                return true;
            }
            case LITERAL -> {
                if (c != literal[pending]) {
                    return false;
                }
                if (++pending == literal.length) {
                    state = afterValue();
                }
                return true;
            }
            case MINUS -> {
                return c == '0' ? set(State.ZERO) : c >= '1' && c <= '9' && set(State.INTEGER);
            }
            case ZERO, INTEGER, FRACTION, EXPONENT_DIGITS -> {
                if (c >= '0' && c <= '9' && state != State.ZERO) {
                    return true;
                }
                if (c == '.' && (state == State.ZERO || state == State.INTEGER)) {
                    return set(State.POINT);
                }
                if ((c == 'e' || c == 'E') && state != State.EXPONENT_DIGITS) {
                    return set(State.EXPONENT);
                }
                state = afterValue(); // the number ends: the byte must fit what follows it
                return afterValueByte(c);
            }
            case POINT -> {
                return c >= '0' && c <= '9' && set(State.FRACTION);
            }
            case EXPONENT -> {
                if (c == '+' || c == '-') {
                    return set(State.EXPONENT_SIGN);
                }
                return c >= '0' && c <= '9' && set(State.EXPONENT_DIGITS);
            }
            case EXPONENT_SIGN -> {
                return c >= '0' && c <= '9' && set(State.EXPONENT_DIGITS);
            }
            case DONE -> {
                return false;
            }
        }
        throw new AssertionError(state);
    }

    /**
     * The fewest bytes that would complete the document from here: closing the string, finishing
     * a literal or a number, giving a pending value (the shortest is {@code 0}), and closing every
     * open object and array. Generation never opens more than the tokens it has left can close.
     */
    public int bytesToComplete() {
        int closers = depth;
        return closers + switch (state) {
            case VALUE -> objectOnly && !started ? 2 : 1; // {} or 0
            case KEY -> 4; // "":0
            case FIRST_ELEMENT_OR_END, FIRST_KEY_OR_END, AFTER_VALUE, DONE, ZERO, INTEGER, FRACTION, EXPONENT_DIGITS -> 0;
            case COLON -> 2; // :0
            case STRING -> key ? 3 : 1; // ":0 or "
            case ESCAPE -> key ? 4 : 2; // any escape, then the rest of the string
            case UNICODE -> pending + (key ? 3 : 1);
            case MINUS, POINT, EXPONENT, EXPONENT_SIGN -> 1;
            case LITERAL -> literal.length - pending;
        };
    }

    private boolean startValue(int c) {
        switch (c) {
            case '{', '[' -> {
                if (depth == MAX_DEPTH) {
                    return false;
                }
                stack[depth++] = c == '{' ? OBJECT : ARRAY;
                state = c == '{' ? State.FIRST_KEY_OR_END : State.FIRST_ELEMENT_OR_END;
                return true;
            }
            case '"' -> {
                key = false;
                return set(State.STRING);
            }
            case '-' -> {
                return set(State.MINUS);
            }
            case '0' -> {
                return set(State.ZERO);
            }
            case 't', 'f', 'n' -> {
                literal = c == 't' ? TRUE : c == 'f' ? FALSE : NULL;
                pending = 1;
                return set(State.LITERAL);
            }
            default -> {
                return c >= '1' && c <= '9' && set(State.INTEGER);
            }
        }
    }

    private boolean afterValueByte(int c) {
        if (depth == 0) {
            return false; // the document is complete: only whitespace may follow
        }
        byte container = stack[depth - 1];
        if (c == ',') {
            state = container == OBJECT ? State.KEY : State.VALUE;
            return true;
        }
        return close(c == '}' ? OBJECT : c == ']' ? ARRAY : 0);
    }

    /** Closes the innermost container if it is {@code kind}. */
    private boolean close(byte kind) {
        if (kind == 0 || depth == 0 || stack[depth - 1] != kind) {
            return false;
        }
        depth--;
        state = afterValue();
        return true;
    }

    private State afterValue() {
        return depth == 0 ? State.DONE : State.AFTER_VALUE;
    }

    private boolean set(State next) {
        state = next;
        return true;
    }

    private boolean isNumber() {
        return switch (state) {
            case MINUS, ZERO, INTEGER, POINT, FRACTION, EXPONENT, EXPONENT_SIGN, EXPONENT_DIGITS -> true;
            default -> false;
        };
    }

    private boolean numberCanEnd() {
        return state == State.ZERO || state == State.INTEGER || state == State.FRACTION || state == State.EXPONENT_DIGITS;
    }
}
