package dev.fathom.model.chat;

/**
 * Separates a reasoning model's streamed output into its reasoning (inside
 * {@code <think>…</think>}) and its answer, as text arrives in arbitrary pieces.
 */
public final class ReasoningParser {
    private static final String OPEN = "<think>";
    private static final String CLOSE = "</think>";

    /** Receives the separated text. */
    public interface Sink {
        void reasoning(String text);

        void content(String text);
    }

    /** A sink that keeps both parts, for a reply read whole. */
    public static final class Collector implements Sink {
        private final StringBuilder reasoning = new StringBuilder();
        private final StringBuilder content = new StringBuilder();

        @Override
        public void reasoning(String text) {
            reasoning.append(text);
        }

        @Override
        public void content(String text) {
            content.append(text);
        }

        public String reasoning() {
            return reasoning.toString();
        }

        public String content() {
            return content.toString();
        }
    }

    private final Sink sink;
    private final StringBuilder held = new StringBuilder();
    private boolean thinking;
    private boolean started;

    /** @param startsThinking whether the prompt already opened a {@code <think>} block */
    public ReasoningParser(boolean startsThinking, Sink sink) {
        this.sink = sink;
        this.thinking = startsThinking;
        this.started = startsThinking;
    }

    public void push(String text) {
        held.append(text);
        while (true) {
            if (!started) {
                // Only a reply that begins with <think> (after blank space) carries reasoning.
                String s = held.toString().stripLeading();
                if (s.startsWith(OPEN)) {
                    held.setLength(0);
                    held.append(s.substring(OPEN.length()));
                    thinking = true;
                    started = true;
                    continue;
                }
                if (OPEN.startsWith(s)) {
                    return; // could still become <think>
                }
                started = true;
            }
            if (!thinking) {
                sink.content(held.toString());
                held.setLength(0);
                return;
            }
            int at = held.indexOf(CLOSE);
            if (at >= 0) {
                emitReasoning(held.substring(0, at));
                held.delete(0, at + CLOSE.length());
                thinking = false;
                continue;
            }
            int keep = partialSuffix(held, CLOSE);
            emitReasoning(held.substring(0, held.length() - keep));
            held.delete(0, held.length() - keep);
            return;
        }
    }

    /** Emits what is still held back at the end of the output. */
    public void finish() {
        if (held.isEmpty()) {
            return;
        }
        if (thinking) {
            emitReasoning(held.toString());
        } else {
            sink.content(held.toString());
        }
        held.setLength(0);
    }

    private void emitReasoning(String text) {
        if (!text.isEmpty()) {
            sink.reasoning(text);
        }
    }

    /** Length of the longest suffix of {@code s} that is a proper prefix of {@code token}. */
    private static int partialSuffix(CharSequence s, String token) {
        for (int k = Math.min(token.length() - 1, s.length()); k > 0; k--) {
            if (s.subSequence(s.length() - k, s.length()).toString().equals(token.substring(0, k))) {
                return k;
            }
        }
        return 0;
    }
}
