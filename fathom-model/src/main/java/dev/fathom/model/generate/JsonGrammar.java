package dev.fathom.model.generate;

import java.util.Map;

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
 *
 * <p>With a {@link JsonSchema}, the document must also be an instance of the schema. JSON's syntax
 * is deterministic, but a schema's {@code anyOf} is not: besides the syntax state, the recognizer
 * keeps every reading of the document against the schema still possible (a path of frames, one
 * per open value, shared between readings), and a byte is allowed if some reading takes it.
 *
 * <p>A document may also be {@linkplain #led led} by one of several texts, each with its own
 * schema: a reply that must call one of several functions writes a function's name, then
 * arguments that follow that function's parameters.
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

    /** The most readings of the document against a schema kept at once; beyond it, later alternatives are dropped. */
    static final int MAX_PATHS = 64;

    /**
     * One open value of a reading against the schema, and the frame of the value that holds it.
     * OBJECT: {@code last} is the property keyed last (-1: none); while a key is read,
     * {@code matched} of its bytes match property {@code rep}'s. ARRAY: {@code items} elements
     * have started. ENUM: {@code matched} bytes of the value match literal {@code rep}'s.
     */
    private record Frame(JsonSchema schema, int last, int rep, int matched, int items, Frame parent) {
        Frame with(int last, int rep, int matched, int items) {
            return new Frame(schema, last, rep, matched, items, parent);
        }
    }

    private final byte[] stack = new byte[MAX_DEPTH];
    private JsonSchema schema; // null: any value (or any object)
    private Frame[] paths = new Frame[1]; // with a schema: the top frame of each reading (null: the top level)
    private int pathCount = 1;
    private Frame[] next = new Frame[1];
    private int produced;
    private boolean objectOnly; // the document must be an object, as OpenAI's json_object mode promises
    private boolean started; // a byte other than whitespace has been read
    private int depth;
    private State state = State.VALUE;
    private boolean key; // the string being read is an object's key
    private byte[] literal;
    private int pending;
    private int spaces;
    private Leads leads; // null: the document starts at once
    private long liveLeads; // the leads that the bytes so far begin (bit i: lead i); 0 once one is read whole
    private int leadBytes; // bytes of the lead read so far

    /**
     * Texts one of which comes before the document, and the schema of the document after each; how
     * few bytes complete each one (its text, then the shortest instance of its schema).
     */
    private record Leads(byte[][] texts, JsonSchema[] schemas, int[] shortest) {
    }

    /** A recognizer of any JSON value. */
    public JsonGrammar() {
    }

    /** A recognizer of a JSON object (the document's top level must be one). */
    public static JsonGrammar object() {
        JsonGrammar g = new JsonGrammar();
        g.objectOnly = true;
        return g;
    }

    /** A recognizer of the instances of {@code schema}. */
    public static JsonGrammar of(JsonSchema schema) {
        JsonGrammar g = new JsonGrammar();
        g.schema = schema;
        return g;
    }

    /**
     * A recognizer of one of {@code leads}' texts, then an instance of that text's schema (at most
     * 64 texts, none the beginning of another, so that the text read decides the schema).
     */
    public static JsonGrammar led(Map<String, JsonSchema> leads) {
        int n = leads.size();
        if (n == 0 || n > Long.SIZE) {
            throw new IllegalArgumentException("between 1 and 64 leads, not " + n);
        }
        byte[][] texts = new byte[n][];
        JsonSchema[] schemas = new JsonSchema[n];
        int[] shortest = new int[n];
        int i = 0;
        for (Map.Entry<String, JsonSchema> e : leads.entrySet()) {
            texts[i] = e.getKey().getBytes(java.nio.charset.StandardCharsets.UTF_8);
            schemas[i] = e.getValue();
            shortest[i] = texts[i].length + of(e.getValue()).bytesToComplete();
            i++;
        }
        for (byte[] a : texts) {
            for (byte[] b : texts) {
                if (a != b && a.length <= b.length && java.util.Arrays.equals(a, 0, a.length, b, 0, a.length)) {
                    throw new IllegalArgumentException("one lead begins another: " + new String(a,
                            java.nio.charset.StandardCharsets.UTF_8));
                }
            }
        }
        JsonGrammar g = new JsonGrammar();
        g.leads = new Leads(texts, schemas, shortest);
        g.liveLeads = n == Long.SIZE ? -1L : (1L << n) - 1;
        return g;
    }

    /** Whether the document has not begun: a lead is being read. */
    public boolean inLead() {
        return liveLeads != 0;
    }

    /** Makes this recognizer's state a copy of {@code other}'s. */
    public void copyFrom(JsonGrammar other) {
        System.arraycopy(other.stack, 0, stack, 0, other.depth);
        schema = other.schema;
        if (paths.length < other.pathCount) {
            paths = new Frame[other.paths.length];
        }
        System.arraycopy(other.paths, 0, paths, 0, other.pathCount);
        pathCount = other.pathCount;
        objectOnly = other.objectOnly;
        started = other.started;
        depth = other.depth;
        state = other.state;
        key = other.key;
        literal = other.literal;
        pending = other.pending;
        spaces = other.spaces;
        leads = other.leads;
        liveLeads = other.liveLeads;
        leadBytes = other.leadBytes;
    }

    /** Whether the bytes so far form a whole JSON value (a number may still go on). */
    public boolean complete() {
        if (depth != 0 || inLead()) {
            return false;
        }
        if (state == State.DONE || state == State.AFTER_VALUE) {
            return true;
        }
        if (!numberCanEnd()) {
            return false;
        }
        for (int p = 0; p < pathCount && schema != null; p++) {
            if (canEnd(paths[p])) {
                return true;
            }
        }
        return schema == null;
    }

    /**
     * Whether the next byte is inside a string that takes any text (not after a backslash, not
     * a key or value the schema spells out): there any byte but '"', '\\' and controls keeps the state.
     */
    public boolean inString() {
        if (state != State.STRING || inLead()) {
            return false;
        }
        for (int p = 0; p < pathCount && schema != null; p++) {
            Frame top = paths[p];
            boolean free = key ? top.schema.kind == JsonSchema.Kind.ANY || top.schema.names.length == 0
                    : top.schema.kind == JsonSchema.Kind.ANY || top.schema.kind == JsonSchema.Kind.STRING;
            if (!free) {
                return false;
            }
        }
        return true;
    }

    /** Whether the document is complete and nothing but whitespace may follow: generation can end here. */
    public boolean finished() {
        return complete() && !canGrow();
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
        if (inLead()) {
            return acceptLead(b);
        }
        int c = b & 0xFF;
        boolean space = c == ' ' || c == '\n' || c == '\r' || c == '\t';
        if (space && state != State.STRING && state != State.ESCAPE && state != State.UNICODE && state != State.LITERAL) {
            if (numberCanEnd()) {
                state = afterValue();
                if (!valueEnded()) {
                    return false;
                }
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
                return keyStarted();
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
                boolean wasKey = key;
                if (c == '"') {
                    state = key ? State.COLON : afterValue();
                    key = false;
                } else if (c == '\\') {
                    state = State.ESCAPE;
                } else if (c < 0x20) {
                    return false; // control characters must be escaped
                }
                if (wasKey) {
                    return c == '"' ? keyEnded() : keyByte(c);
                }
                return valueByte(c) && (c != '"' || valueEnded());
            }
            case ESCAPE -> {
                if (c == 'u') {
                    state = State.UNICODE;
                    pending = 4;
                } else {
                    state = State.STRING;
                    if ("\"\\/bfnrt".indexOf(c) < 0) {
                        return false;
                    }
                }
                return key ? keyByte(c) : valueByte(c);
            }
            case UNICODE -> {
                if (Character.digit(c, 16) < 0) {
                    return false;
                }
                if (--pending == 0) {
                    state = State.STRING;
                }
                return key ? keyByte(c) : valueByte(c);
            }
            case LITERAL -> {
                if (c != literal[pending]) {
                    return false;
                }
                if (++pending == literal.length) {
                    state = afterValue();
                    return valueByte(c) && valueEnded();
                }
                return valueByte(c);
            }
            case MINUS -> {
                return (c == '0' ? set(State.ZERO) : c >= '1' && c <= '9' && set(State.INTEGER))
                        && valueByte(c);
            }
            case ZERO, INTEGER, FRACTION, EXPONENT_DIGITS -> {
                if (c >= '0' && c <= '9' && state != State.ZERO) {
                    return valueByte(c);
                }
                if (c == '.' && (state == State.ZERO || state == State.INTEGER)) {
                    return set(State.POINT) && valueByte(c);
                }
                if ((c == 'e' || c == 'E') && state != State.EXPONENT_DIGITS) {
                    return set(State.EXPONENT) && valueByte(c);
                }
                state = afterValue(); // the number ends: the byte must fit what follows it
                return valueEnded() && afterValueByte(c);
            }
            case POINT -> {
                return c >= '0' && c <= '9' && set(State.FRACTION) && valueByte(c);
            }
            case EXPONENT -> {
                if (c == '+' || c == '-') {
                    return set(State.EXPONENT_SIGN) && valueByte(c);
                }
                return c >= '0' && c <= '9' && set(State.EXPONENT_DIGITS) && valueByte(c);
            }
            case EXPONENT_SIGN -> {
                return c >= '0' && c <= '9' && set(State.EXPONENT_DIGITS) && valueByte(c);
            }
            case DONE -> {
                return false;
            }
        }
        throw new AssertionError(state);
    }

    /** A byte of the lead: the leads it does not continue drop out; once one is read whole, its schema rules. */
    private boolean acceptLead(byte b) {
        long still = 0;
        int whole = -1;
        for (long live = liveLeads; live != 0; live &= live - 1) {
            int i = Long.numberOfTrailingZeros(live);
            byte[] text = leads.texts()[i];
            if (text[leadBytes] == b) {
                still |= 1L << i;
                if (leadBytes + 1 == text.length) {
                    whole = i;
                }
            }
        }
        if (still == 0) {
            return false;
        }
        leadBytes++;
        liveLeads = whole >= 0 ? 0 : still; // no lead begins another: a whole one is the only one left
        if (whole >= 0) {
            schema = leads.schemas()[whole];
        }
        return true;
    }

    /**
     * The fewest bytes that would complete the document from here: closing the string, finishing
     * a literal or a number, giving a pending value (the shortest is {@code 0}), and closing every
     * open object and array. Generation never opens more than the tokens it has left can close.
     */
    public int bytesToComplete() {
        if (inLead()) {
            int min = Integer.MAX_VALUE;
            for (long live = liveLeads; live != 0; live &= live - 1) {
                int i = Long.numberOfTrailingZeros(live);
                min = Math.min(min, leads.shortest()[i] - leadBytes);
            }
            return min;
        }
        if (schema != null) {
            long min = Long.MAX_VALUE;
            for (int p = 0; p < pathCount; p++) {
                min = Math.min(min, bytesToComplete(paths[p]));
            }
            return (int) Math.min(min, Integer.MAX_VALUE);
        }
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
        if (!valueStarted(c)) {
            return false;
        }
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
            return commaTaken();
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
        return closeTaken() && valueEnded();
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

    // The schema's side: each event of the syntax maps every reading to the readings that take it.

    private void emit(Frame f) {
        if (produced == MAX_PATHS) {
            return;
        }
        if (produced == next.length) {
            next = java.util.Arrays.copyOf(next, 2 * produced);
        }
        next[produced++] = f;
    }

    /** Makes the readings emitted since the last commit the current ones; returns whether any is left. */
    private boolean commit() {
        Frame[] swap = paths;
        paths = next;
        next = swap;
        pathCount = produced;
        produced = 0;
        return pathCount > 0;
    }

    /** What the next value of a reading whose innermost open value is {@code top} must be. */
    private JsonSchema expected(Frame top) {
        if (top == null) {
            return schema;
        }
        return switch (top.schema.kind) {
            case OBJECT -> top.last >= 0 ? top.schema.values[top.last] : top.schema.additional;
            case ARRAY -> top.schema.items;
            default -> JsonSchema.ANY; // inside a container of any value
        };
    }

    private boolean valueStarted(int c) {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            Frame holder = top;
            if (top != null && top.schema.kind == JsonSchema.Kind.ARRAY) {
                if (top.items == top.schema.maxItems) {
                    continue;
                }
                holder = top.with(top.last, top.rep, top.matched, top.items + 1);
            }
            open(expected(top), c, holder);
        }
        return commit();
    }

    /** Emits a reading for each alternative of {@code s} that a value starting with {@code c} can take. */
    private void open(JsonSchema s, int c, Frame holder) {
        if (s.kind == JsonSchema.Kind.ANY_OF) {
            for (JsonSchema option : s.options) {
                open(option, c, holder);
            }
        } else if (s.mayStartWith(c)) {
            int rep = 0;
            while (s.kind == JsonSchema.Kind.ENUM && (s.literals[rep][0] & 0xFF) != c) {
                rep++;
            }
            emit(new Frame(s, -1, rep, 1, 0, holder));
        }
    }

    /** A byte of a scalar value after its first: enums spell theirs out, integers have no fraction or exponent. */
    private boolean valueByte(int c) {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            switch (top.schema.kind) {
                case ENUM -> {
                    int j = extend(top.schema.literals, top.rep, top.matched, c, 0, top.schema.literals.length - 1);
                    if (j >= 0) {
                        emit(top.with(-1, j, top.matched + 1, 0));
                    }
                }
                case INTEGER -> {
                    if (c != '.' && c != 'e' && c != 'E') {
                        emit(top);
                    }
                }
                default -> emit(top);
            }
        }
        return commit();
    }

    /** A value has ended: an enum's must be one of its literals whole. Its reading goes back to the value holding it. */
    private boolean valueEnded() {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            if (canEnd(paths[p])) {
                emit(paths[p].parent);
            }
        }
        return commit();
    }

    private static boolean canEnd(Frame top) {
        return top.schema.kind != JsonSchema.Kind.ENUM
                || exact(top.schema.literals, top.rep, top.matched, 0, top.schema.literals.length - 1) >= 0;
    }

    private static boolean freeKeys(Frame object) {
        return object.schema.kind == JsonSchema.Kind.ANY || object.schema.names.length == 0;
    }

    /** The last property that may come after {@code last}: the first required one after it, else the last of all. */
    private static int lastAllowed(JsonSchema object, int last) {
        for (int j = last + 1; j < object.names.length; j++) {
            if (object.required[j]) {
                return j;
            }
        }
        return object.names.length - 1;
    }

    private boolean keyStarted() {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            if (freeKeys(top)) {
                if (top.schema.kind == JsonSchema.Kind.ANY || top.schema.additional != null) {
                    emit(top);
                }
            } else if (top.last + 1 < top.schema.names.length) {
                emit(top.with(top.last, top.last + 1, 0, 0));
            }
        }
        return commit();
    }

    private boolean keyByte(int c) {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            if (freeKeys(top)) {
                emit(top);
                continue;
            }
            int j = extend(top.schema.keys, top.rep, top.matched, c, top.last + 1, lastAllowed(top.schema, top.last));
            if (j >= 0) {
                emit(top.with(top.last, j, top.matched + 1, 0));
            }
        }
        return commit();
    }

    private boolean keyEnded() {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            if (freeKeys(top)) {
                emit(top);
                continue;
            }
            int j = exact(top.schema.keys, top.rep, top.matched, top.last + 1, lastAllowed(top.schema, top.last));
            if (j >= 0) {
                emit(top.with(j, -1, 0, 0));
            }
        }
        return commit();
    }

    private boolean commaTaken() {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            boolean more = switch (top.schema.kind) {
                case OBJECT -> top.schema.names.length == 0 ? top.schema.additional != null
                        : top.last + 1 < top.schema.names.length;
                case ARRAY -> top.items < top.schema.maxItems;
                default -> true;
            };
            if (more) {
                emit(top);
            }
        }
        return commit();
    }

    private boolean closeTaken() {
        if (schema == null) {
            return true;
        }
        for (int p = 0; p < pathCount; p++) {
            Frame top = paths[p];
            boolean done = switch (top.schema.kind) {
                case OBJECT -> requiredAfter(top.schema, top.last) == 0;
                case ARRAY -> top.items >= top.schema.minItems;
                default -> true;
            };
            if (done) {
                emit(top);
            }
        }
        return commit();
    }

    /**
     * The candidate in {@code [from, to]} whose first {@code matched} bytes are {@code candidates[rep]}'s
     * and whose next byte is {@code c}; -1 if none.
     */
    private static int extend(byte[][] candidates, int rep, int matched, int c, int from, int to) {
        for (int j = from; j <= to; j++) {
            byte[] b = candidates[j];
            if (b.length > matched && (b[matched] & 0xFF) == c
                    && java.util.Arrays.equals(b, 0, matched, candidates[rep], 0, matched)) {
                return j;
            }
        }
        return -1;
    }

    /** The candidate in {@code [from, to]} that is exactly the first {@code matched} bytes of {@code candidates[rep]}; -1 if none. */
    private static int exact(byte[][] candidates, int rep, int matched, int from, int to) {
        for (int j = from; j <= to; j++) {
            if (candidates[j].length == matched && java.util.Arrays.equals(candidates[j], 0, matched, candidates[rep], 0, matched)) {
                return j;
            }
        }
        return -1;
    }

    /** The fewest bytes that complete the document along one reading. */
    private long bytesToComplete(Frame top) {
        return switch (state) {
            case DONE -> 0;
            case VALUE -> expected(top).minBytes + (top == null ? 0 : afterMember(top, true)) + holders(top == null ? null : top.parent);
            case FIRST_ELEMENT_OR_END, FIRST_KEY_OR_END -> firstMembers(top) + 1 + holders(top.parent);
            case AFTER_VALUE -> afterMember(top, false) + holders(top.parent);
            case KEY -> nextMember(top) + holders(top.parent);
            case COLON -> 1 + expected(top).minBytes + afterMember(top, false) + holders(top.parent);
            default -> {
                if (key) {
                    yield nextMember(top) + holders(top.parent);
                }
                long rest = top.schema.kind == JsonSchema.Kind.ENUM ? enumRest(top) : scalarRest();
                yield rest + holders(top.parent);
            }
        };
    }

    /** What finishes each value from {@code holder} outwards once the value it holds has ended. */
    private long holders(Frame holder) {
        long sum = 0;
        for (Frame f = holder; f != null; f = f.parent) {
            sum += afterMember(f, false);
        }
        return sum;
    }

    /**
     * What finishes a container after its current member: the required properties after it, or
     * the elements {@code minItems} still asks for (one more pending when {@code pendingElement}), and the closer.
     */
    private static long afterMember(Frame f, boolean pendingElement) {
        JsonSchema s = f.schema;
        if (s.kind == JsonSchema.Kind.ARRAY) {
            long missing = Math.max(0, s.minItems - f.items - (pendingElement ? 1 : 0));
            return missing * (1 + s.items.minBytes) + 1;
        }
        return s.kind == JsonSchema.Kind.OBJECT ? requiredAfter(s, f.last) + 1 : 1;
    }

    /** The required properties after property {@code last}, each with its comma. */
    private static long requiredAfter(JsonSchema object, int last) {
        long sum = 0;
        for (int j = last + 1; j < object.names.length; j++) {
            if (object.required[j]) {
                sum += 1 + object.memberBytes(j);
            }
        }
        return sum;
    }

    /** Right after the opening bracket: the members the container needs (no comma before the first). */
    private static long firstMembers(Frame f) {
        JsonSchema s = f.schema;
        if (s.kind == JsonSchema.Kind.ARRAY) {
            return s.minItems == 0 ? 0 : s.minItems * (1L + s.items.minBytes) - 1;
        }
        if (s.kind != JsonSchema.Kind.OBJECT) {
            return 0;
        }
        long required = requiredAfter(s, -1);
        return required == 0 ? 0 : required - 1;
    }

    /**
     * A key is due (after a comma) or under way: the fewest bytes of its rest and closing quote,
     * its colon and value, the required members after it and the object's closer.
     */
    private long nextMember(Frame object) {
        int quotes = state == State.KEY ? 2 : 1;
        if (freeKeys(object)) {
            int escape = state == State.ESCAPE ? 1 : state == State.UNICODE ? pending : 0;
            JsonSchema value = object.schema.kind == JsonSchema.Kind.ANY ? JsonSchema.ANY : object.schema.additional;
            return quotes + escape + 1 + value.minBytes + 1;
        }
        // A property's key is spelled out: its escapes are among its bytes.
        JsonSchema s = object.schema;
        int matched = state == State.KEY ? 0 : object.matched;
        long min = Long.MAX_VALUE;
        for (int j = object.last + 1; j <= lastAllowed(s, object.last); j++) {
            if (s.keys[j].length >= matched
                    && (matched == 0 || java.util.Arrays.equals(s.keys[j], 0, matched, s.keys[object.rep], 0, matched))) {
                min = Math.min(min, s.keys[j].length - matched + quotes + 1 + s.values[j].minBytes + requiredAfter(s, j) + 1);
            }
        }
        return min;
    }

    /** The fewest bytes that finish an enum's value: the rest of its shortest literal that fits so far. */
    private static long enumRest(Frame top) {
        byte[][] literals = top.schema.literals;
        long min = Long.MAX_VALUE;
        for (byte[] literal : literals) {
            if (literal.length >= top.matched && java.util.Arrays.equals(literal, 0, top.matched, literals[top.rep], 0, top.matched)) {
                min = Math.min(min, literal.length - top.matched);
            }
        }
        return min;
    }

    /** The fewest bytes that finish the scalar under way, by the syntax alone. */
    private int scalarRest() {
        return switch (state) {
            case STRING -> 1;
            case ESCAPE -> 2;
            case UNICODE -> pending + 1;
            case MINUS, POINT, EXPONENT, EXPONENT_SIGN -> 1;
            case LITERAL -> literal.length - pending;
            default -> 0;
        };
    }
}
