package dev.fathom.model.generate;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns the bytes of generated tokens into text as they come, never splitting a UTF-8
 * character: a token may end inside a character (a Chinese character or an emoji spans several
 * byte-level tokens), and its trailing bytes wait for the next token.
 */
public final class TextStream {
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    /** Adds a token's bytes; returns the text that is now complete (possibly empty). */
    public String push(byte[] bytes) {
        pending.write(bytes, 0, bytes.length);
        byte[] all = pending.toByteArray();
        int complete = completePrefix(all);
        pending.reset();
        pending.write(all, complete, all.length - complete);
        return new String(all, 0, complete, StandardCharsets.UTF_8);
    }

    /** The text still held back (malformed bytes become U+FFFD), emptying the stream. */
    public String flush() {
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return rest;
    }

    /** Length of the longest prefix that does not end inside an unfinished UTF-8 sequence. */
    static int completePrefix(byte[] b) {
        int n = b.length;
        // Look back at most 3 bytes for the start of a sequence.
        for (int back = 1; back <= Math.min(3, n); back++) {
            int lead = b[n - back] & 0xFF;
            if ((lead & 0xC0) == 0x80) {
                continue; // a continuation byte: keep looking for the lead
            }
            int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
            return length > back ? n - back : n;
        }
        return n;
    }
}
