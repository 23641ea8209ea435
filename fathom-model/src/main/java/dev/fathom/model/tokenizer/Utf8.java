package dev.fathom.model.tokenizer;

import java.io.ByteArrayOutputStream;

/** UTF-8 to code points and back, the way llama.cpp treats malformed input. */
final class Utf8 {
    private Utf8() {
    }

    /**
     * Decodes {@code bytes}; every malformed sequence, and one that decodes beyond U+10FFFF,
     * yields U+FFFD and decoding resumes at the next byte. Like llama.cpp, overlong forms and surrogates are not rejected.
     */
    static int[] codePoints(byte[] bytes) {
        int[] out = new int[bytes.length];
        int n = 0;
        int i = 0;
        while (i < bytes.length) {
            int lead = bytes[i] & 0xFF;
            int extra;
            int cp;
            if (lead < 0x80) {
                out[n++] = lead;
                i++;
                continue;
            } else if ((lead & 0xE0) == 0xC0) {
                extra = 1;
                cp = lead & 0x1F;
            } else if ((lead & 0xF0) == 0xE0) {
                extra = 2;
                cp = lead & 0x0F;
            } else if ((lead & 0xF8) == 0xF0) {
                extra = 3;
                cp = lead & 0x07;
            } else {
                out[n++] = 0xFFFD;
                i++;
                continue;
            }
            boolean ok = i + extra < bytes.length;
            for (int k = 1; ok && k <= extra; k++) {
                ok = (bytes[i + k] & 0xC0) == 0x80;
            }
            for (int k = 1; ok && k <= extra; k++) {
                cp = cp << 6 | (bytes[i + k] & 0x3F);
            }
            if (!ok || cp > 0x10FFFF) { // beyond Unicode: no code point to encode back
                out[n++] = 0xFFFD;
                i++;
                continue;
            }
            out[n++] = cp;
            i += extra + 1;
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** Encodes code points {@code [from, to)}, surrogates included, as llama.cpp does. */
    static byte[] bytes(int[] cps, int from, int to) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(to - from);
        for (int i = from; i < to; i++) {
            int cp = cps[i];
            if (cp < 0x80) {
                out.write(cp);
            } else if (cp < 0x800) {
                out.write(0xC0 | cp >> 6);
                out.write(0x80 | cp & 0x3F);
            } else if (cp < 0x10000) {
                out.write(0xE0 | cp >> 12);
                out.write(0x80 | cp >> 6 & 0x3F);
                out.write(0x80 | cp & 0x3F);
            } else {
                out.write(0xF0 | cp >> 18);
                out.write(0x80 | cp >> 12 & 0x3F);
                out.write(0x80 | cp >> 6 & 0x3F);
                out.write(0x80 | cp & 0x3F);
            }
        }
        return out.toByteArray();
    }
}
