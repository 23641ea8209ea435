package dev.fathom.model.tokenizer;

/**
 * GPT-2's byte-level alphabet: every byte is written as one printable character, so that BPE
 * works on text yet covers any byte sequence. Printable Latin-1 bytes stand for themselves; the
 * 68 others (controls, space, DEL, NBSP, soft hyphen) map in order to U+0100 onwards, which is
 * why a space shows up as 'Ġ' (U+0120) and a newline as 'Ċ' (U+010A) in vocabularies.
 */
public final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[0x144];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 0x100;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /** The UTF-8 bytes of a piece, each written as its byte-level character. */
    public static String encode(byte[] utf8) {
        char[] out = new char[utf8.length];
        for (int i = 0; i < utf8.length; i++) {
            out[i] = BYTE_TO_CHAR[utf8[i] & 0xFF];
        }
        return new String(out);
    }

    /** The byte a byte-level character stands for, or -1 if it is not one. */
    static int decode(char c) {
        return c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }
}
