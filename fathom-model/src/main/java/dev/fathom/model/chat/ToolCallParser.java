package dev.fathom.model.chat;

/**
 * Finds function calls in a reply as its text arrives in arbitrary pieces: text before the
 * calls is content, each call is reported as it starts (its name) and its arguments as they
 * come, so a server can stream them; where the syntax allows them, {@code <tool_call>} JSON
 * blocks too, each reported whole once it closes. Text that may be the start of a marker is held back until
 * it is known; a reply that ends inside a call's arguments (a forced call ends with its JSON)
 * keeps the call.
 */
public final class ToolCallParser {
    /** Receives the content and the calls. */
    public interface Sink {
        void content(String text);

        /** Call {@code index} (from 0) of function {@code name} starts. */
        void callStarted(int index, String name);

        /** More of call {@code index}'s arguments. */
        void arguments(int index, String fragment);
    }

    private enum State { CONTENT, BETWEEN_CALLS, NAME, ARGUMENTS, AFTER_CALLS, JSON_BLOCK }

    private static final String BLOCK_START = "<tool_call>";
    private static final String BLOCK_END = "</tool_call>";
    private static final tools.jackson.databind.ObjectMapper JSON = new tools.jackson.databind.ObjectMapper();

    private final ToolSyntax syntax;
    private final Sink sink;
    private final StringBuilder held = new StringBuilder();
    private State state = State.CONTENT;
    private int calls;

    public ToolCallParser(ToolSyntax syntax, Sink sink) {
        this.syntax = syntax;
        this.sink = sink;
    }

    /** How many calls have started. */
    public int calls() {
        return calls + (state == State.ARGUMENTS ? 1 : 0);
    }

    public void push(String text) {
        held.append(text);
        drain(false);
    }

    /** The reply has ended: passes on what was held back. */
    public void finish() {
        drain(true);
        if (state == State.ARGUMENTS) {
            calls++;
            state = State.AFTER_CALLS;
        }
        if (!held.isEmpty()) {
            sink.content(held.toString()); // an unfinished marker or name: the text as written
            held.setLength(0);
        }
    }

    private void drain(boolean end) {
        while (!held.isEmpty()) {
            switch (state) {
                case CONTENT -> {
                    int at = held.indexOf(syntax.sectionStart());
                    int block = syntax.jsonBlocks() ? held.indexOf(BLOCK_START) : -1;
                    if (block >= 0 && (at < 0 || block < at)) {
                        pass(block, State.JSON_BLOCK, 0, true);
                        continue;
                    }
                    if (at >= 0) {
                        pass(at, State.BETWEEN_CALLS, syntax.sectionStart().length(), true);
                        continue;
                    }
                    int partial = end ? 0 : Math.max(partialMarker(syntax.sectionStart()),
                            syntax.jsonBlocks() ? partialMarker(BLOCK_START) : 0);
                    pass(held.length() - partial, State.CONTENT, 0, true);
                    return;
                }
                case JSON_BLOCK -> {
                    int close = held.indexOf(BLOCK_END);
                    if (close < 0) {
                        return; // the block's text stays held until it closes (or, at the end, passes on as text)
                    }
                    String body = held.substring(BLOCK_START.length(), close);
                    String name = null;
                    String arguments = null;
                    try {
                        tools.jackson.databind.JsonNode call = JSON.readTree(body);
                        if (call.path("name").isString() && call.has("arguments")) {
                            name = call.get("name").asString();
                            tools.jackson.databind.JsonNode a = call.get("arguments");
                            arguments = a.isString() ? a.asString() : JSON.writeValueAsString(a);
                        }
                    } catch (RuntimeException e) {
                        name = null; // not a call after all: its text is content
                    }
                    if (name == null) {
                        pass(close + BLOCK_END.length(), State.CONTENT, 0, true);
                    } else {
                        sink.callStarted(calls, name);
                        sink.arguments(calls, arguments);
                        calls++;
                        held.delete(0, close + BLOCK_END.length());
                        state = State.CONTENT;
                    }
                }
                case BETWEEN_CALLS -> {
                    int blank = 0;
                    while (blank < held.length() && Character.isWhitespace(held.charAt(blank))) {
                        blank++;
                    }
                    String rest = held.substring(blank);
                    if (rest.startsWith(syntax.callStart())) {
                        held.delete(0, blank + syntax.callStart().length());
                        state = State.NAME;
                    } else if (rest.startsWith(syntax.sectionEnd())) {
                        held.delete(0, blank + syntax.sectionEnd().length());
                        state = State.AFTER_CALLS;
                    } else if (!end && (syntax.callStart().startsWith(rest) || syntax.sectionEnd().startsWith(rest))) {
                        return; // a marker may be under way
                    } else {
                        state = State.AFTER_CALLS; // not a call: the rest is text
                    }
                }
                case NAME -> {
                    int at = held.indexOf(syntax.nameEnd());
                    if (at < 0) {
                        return;
                    }
                    sink.callStarted(calls, held.substring(0, at).strip());
                    held.delete(0, at + syntax.nameEnd().length());
                    state = State.ARGUMENTS;
                }
                case ARGUMENTS -> {
                    int at = held.indexOf(syntax.argumentsEnd());
                    if (at >= 0) {
                        pass(at, State.BETWEEN_CALLS, syntax.argumentsEnd().length(), false);
                        calls++;
                        continue;
                    }
                    pass(held.length() - (end ? 0 : partialMarker(syntax.argumentsEnd())), State.ARGUMENTS, 0, false);
                    return;
                }
                case AFTER_CALLS -> {
                    pass(held.length(), State.AFTER_CALLS, 0, true);
                    return;
                }
            }
        }
    }

    /** Passes on the first {@code count} held characters (as content or arguments), drops a marker of {@code skip} after them. */
    private void pass(int count, State next, int skip, boolean content) {
        if (count > 0) {
            String text = held.substring(0, count);
            if (content) {
                sink.content(text);
            } else {
                sink.arguments(calls, text);
            }
        }
        held.delete(0, count + skip);
        state = next;
    }

    /** The length of the longest end of the held text that begins {@code marker}. */
    private int partialMarker(String marker) {
        String text = held.toString();
        for (int n = Math.min(marker.length() - 1, text.length()); n > 0; n--) {
            if (text.regionMatches(text.length() - n, marker, 0, n)) {
                return n;
            }
        }
        return 0;
    }
}
