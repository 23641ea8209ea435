package dev.fathom.model.tokenizer;

/**
 * The coarse Unicode classes that pre-tokenizer regexes use: letters, numbers, punctuation,
 * marks, symbols and White_Space, and their one-character stand-ins for category matching.
 */
final class UnicodeClass {
    static final char OTHER = '\u00D0';
    static final char NUMBER = '\u00D1';
    static final char LETTER = '\u00D2';
    static final char PUNCTUATION = '\u00D3';
    static final char MARK = '\u00D4';
    static final char SYMBOL = '\u00D5';

    private UnicodeClass() {
    }

    /** Unicode's White_Space property. */
    static boolean isWhitespace(int cp) {
        return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680
                || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F
                || cp == 0x3000;
    }

    /** The character a code point stands as in collapsed text. */
    static char collapse(int cp) {
        if (cp < 0x80) {
            return (char) cp;
        }
        if (isWhitespace(cp)) {
            return 0x0B;
        }
        return switch (Character.getType(cp)) {
            case Character.DECIMAL_DIGIT_NUMBER, Character.LETTER_NUMBER, Character.OTHER_NUMBER -> NUMBER;
            case Character.UPPERCASE_LETTER, Character.LOWERCASE_LETTER, Character.TITLECASE_LETTER,
                    Character.MODIFIER_LETTER, Character.OTHER_LETTER -> LETTER;
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                    Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION,
                    Character.FINAL_QUOTE_PUNCTUATION, Character.OTHER_PUNCTUATION -> PUNCTUATION;
            case Character.NON_SPACING_MARK, Character.ENCLOSING_MARK, Character.COMBINING_SPACING_MARK -> MARK;
            case Character.MATH_SYMBOL, Character.CURRENCY_SYMBOL, Character.MODIFIER_SYMBOL,
                    Character.OTHER_SYMBOL -> SYMBOL;
            default -> OTHER;
        };
    }

    /**
     * A category's members in collapsed text, for use inside a bracket expression: its stand-in
     * and its ASCII characters. All letter subcategories mean any letter, as in llama.cpp.
     */
    static String members(String category) {
        return switch (category) {
            case "\\p{N}" -> "\\x{D1}0-9";
            case "\\p{L}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}" -> "\\x{D2}A-Za-z";
            case "\\p{P}" -> "\\x{D3}!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
            case "\\p{M}" -> "\\x{D4}";
            case "\\p{S}" -> "\\x{D5}\\$\\+<->\\^`\\|\\~";
            default -> throw new IllegalArgumentException("unsupported category " + category);
        };
    }
}
