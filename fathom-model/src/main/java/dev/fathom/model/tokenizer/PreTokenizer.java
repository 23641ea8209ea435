package dev.fathom.model.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the pieces that BPE then encodes one by one, by the regular expressions of
 * the GGUF's {@code tokenizer.ggml.pre}, applied in order, each to every piece of the previous.
 * Every match and every stretch between matches becomes a piece: splitting never drops text.
 *
 * <p>Matching follows llama.cpp. A regex that names Unicode categories ({@code \p{L}} and kin)
 * runs on a collapsed copy of the text with one character per code point: ASCII as is, other
 * whitespace as U+000B, other letters, numbers, punctuation, marks and symbols as one stand-in
 * character each. A regex without categories runs on the code points themselves, with non-ASCII
 * whitespace replaced by U+000B. Both make {@code \s} mean exactly Unicode's White_Space.
 * Categories come from the JDK's Unicode tables (llama.cpp embeds Unicode 15.1; only characters
 * added since can differ).
 */
public final class PreTokenizer {
    private static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    private static final String LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final String QWEN2 = LLAMA3.replace("\\p{N}{1,3}", "\\p{N}");
    private static final String CJK = "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+";
    /** DeepSeek LLM's letters: Latin, Greek, Cyrillic, Armenian, Georgian, Cherokee and other cased scripts. */
    private static final String DEEPSEEK_LETTERS = "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
            + "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}"
            + "\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}"
            + "\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}"
            + "\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
            + "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}"
            + "\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}"
            + "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}"
            + "\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}"
            + "\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}"
            + "\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}"
            + "\\x{2CEB}-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
            + "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}"
            + "\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}"
            + "\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}"
            + "\\x{1E900}-\\x{1E943}";

    private static final Map<String, List<String>> FAMILIES = Map.of(
            "default", List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"),
            "gpt2", List.of(GPT2),
            "llama3", List.of(LLAMA3),
            "qwen2", List.of(QWEN2),
            "starcoder", List.of("\\p{N}", GPT2),
            "deepseek-llm", List.of("[\\r\\n]", "\\s?[" + DEEPSEEK_LETTERS + "]+",
                    "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
                    "\\s+$", CJK, "\\p{N}+"),
            "deepseek-coder", List.of("[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK, "\\p{N}"),
            "deepseek-v3", List.of("\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
                    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                            + "| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"));

    /**
     * Which family each {@code tokenizer.ggml.pre} value uses, and whether it cleans up spaces
     * around punctuation when decoding. Names not listed are refused, as llama.cpp refuses them.
     */
    private record Kind(String family, boolean cleanSpaces, boolean ignoreMerges, boolean addBos) {
    }

    private static final Map<String, Kind> KINDS = Map.ofEntries(
            Map.entry("default", new Kind("default", true, false, false)),
            Map.entry("gpt-2", new Kind("gpt2", true, false, false)),
            Map.entry("phi-2", new Kind("gpt2", true, false, false)),
            Map.entry("mpt", new Kind("gpt2", true, false, false)),
            Map.entry("olmo", new Kind("gpt2", true, false, false)),
            Map.entry("llama3", new Kind("llama3", true, true, true)),
            Map.entry("llama-v3", new Kind("llama3", true, true, true)),
            Map.entry("llama-bpe", new Kind("llama3", true, true, true)),
            Map.entry("falcon3", new Kind("llama3", true, true, true)),
            Map.entry("dbrx", new Kind("llama3", true, false, false)),
            Map.entry("smaug-bpe", new Kind("llama3", true, false, false)),
            Map.entry("qwen2", new Kind("qwen2", false, false, false)),
            Map.entry("deepseek-r1-qwen", new Kind("qwen2", false, false, false)),
            Map.entry("stablelm2", new Kind("qwen2", true, false, false)),
            Map.entry("megrez", new Kind("qwen2", true, false, false)),
            Map.entry("starcoder", new Kind("starcoder", true, false, false)),
            Map.entry("refact", new Kind("starcoder", true, false, false)),
            Map.entry("command-r", new Kind("starcoder", false, false, false)),
            Map.entry("smollm", new Kind("starcoder", false, false, false)),
            Map.entry("deepseek-llm", new Kind("deepseek-llm", false, false, false)),
            Map.entry("deepseek-coder", new Kind("deepseek-coder", false, false, false)),
            Map.entry("deepseek-v3", new Kind("deepseek-v3", false, false, false)));

    private final String name;
    private final Kind kind;
    private final List<Rule> rules;

    private PreTokenizer(String name, Kind kind) {
        this.name = name;
        this.kind = kind;
        this.rules = FAMILIES.get(kind.family).stream().map(Rule::new).toList();
    }

    /** The pre-tokenizer a GGUF names; {@code null} means llama.cpp's default. */
    public static PreTokenizer named(String pre) {
        String key = pre == null || pre.isEmpty() ? "default" : pre;
        Kind kind = KINDS.get(key);
        if (kind == null) {
            throw new IllegalArgumentException("unknown pre-tokenizer type '" + pre + "' (supported: "
                    + String.join(", ", new java.util.TreeSet<>(KINDS.keySet())) + ")");
        }
        return new PreTokenizer(key, kind);
    }

    public String name() {
        return name;
    }

    /** Whether decoding removes spaces before punctuation and contractions (GPT-2 and Llama 3 do). */
    boolean cleanSpaces() {
        return kind.cleanSpaces;
    }

    /** Whether a whole piece found in the vocabulary is taken as one token without merging (Llama 3). */
    boolean ignoreMerges() {
        return kind.ignoreMerges;
    }

    /** Whether this family adds BOS unless the file says otherwise. */
    boolean addsBos() {
        return kind.addBos;
    }

    /** The pieces of {@code text}, in order: what BPE encodes one by one (and what a BPE trainer counts). */
    public List<String> pieces(String text) {
        int[] cps = text.codePoints().toArray();
        int[] bounds = split(cps);
        List<String> out = new ArrayList<>(bounds.length);
        for (int i = 0; i + 1 < bounds.length; i++) {
            if (bounds[i] < bounds[i + 1]) {
                out.add(new String(cps, bounds[i], bounds[i + 1] - bounds[i]));
            }
        }
        return out;
    }

    /** Splits code points into pieces; returns the piece boundaries, starting with 0 and ending with the length. */
    int[] split(int[] cps) {
        int[] bounds = {0, cps.length};
        for (Rule rule : rules) {
            bounds = rule.split(cps, bounds);
        }
        return bounds;
    }

    /** One regex of the list, compiled for the form of text it runs on. */
    private static final class Rule {
        private static final String[] CATEGORIES = {"\\p{Lu}", "\\p{Ll}", "\\p{Lt}", "\\p{Lm}", "\\p{Lo}",
            "\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}"};
        private final Pattern pattern;
        private final boolean collapsed;

        Rule(String regex) {
            boolean usesCategories = false;
            for (String c : CATEGORIES) {
                usesCategories |= regex.contains(c);
            }
            this.collapsed = usesCategories;
            String java = usesCategories ? collapseCategories(regex) : regex;
            // Java's $ also matches before a final line break; the intent is the end of the piece.
            if (java.endsWith("$")) {
                java = java.substring(0, java.length() - 1) + "\\z";
            }
            this.pattern = Pattern.compile(java);
        }

        int[] split(int[] cps, int[] bounds) {
            String text;
            int[] charIndex = null;
            if (collapsed) {
                char[] chars = new char[cps.length];
                for (int i = 0; i < cps.length; i++) {
                    chars[i] = UnicodeClass.collapse(cps[i]);
                }
                text = new String(chars);
            } else {
                StringBuilder sb = new StringBuilder(cps.length);
                charIndex = new int[cps.length + 1];
                for (int i = 0; i < cps.length; i++) {
                    charIndex[i] = sb.length();
                    int cp = cps[i];
                    if (cp >= 0x80 && UnicodeClass.isWhitespace(cp)) {
                        cp = 0x0B;
                    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                        cp = 0xFFFD; // a lone surrogate from malformed input must not pair up with a neighbour
                    }
                    sb.appendCodePoint(cp);
                }
                charIndex[cps.length] = sb.length();
                text = sb.toString();
            }
            List<Integer> out = new ArrayList<>();
            out.add(0);
            Matcher m = pattern.matcher(text);
            for (int b = 0; b + 1 < bounds.length; b++) {
                int start = charAt(charIndex, bounds[b]);
                int end = charAt(charIndex, bounds[b + 1]);
                m.region(start, end);
                while (m.find()) {
                    if (m.end() == m.start()) {
                        continue;
                    }
                    addBound(out, codePointAt(charIndex, m.start()));
                    addBound(out, codePointAt(charIndex, m.end()));
                }
                addBound(out, bounds[b + 1]);
            }
            return out.stream().mapToInt(Integer::intValue).toArray();
        }

        private static void addBound(List<Integer> bounds, int at) {
            if (bounds.get(bounds.size() - 1) != at) {
                bounds.add(at);
            }
        }

        private static int charAt(int[] charIndex, int codePoint) {
            return charIndex == null ? codePoint : charIndex[codePoint];
        }

        private static int codePointAt(int[] charIndex, int charOffset) {
            if (charIndex == null) {
                return charOffset;
            }
            int i = java.util.Arrays.binarySearch(charIndex, charOffset);
            return i >= 0 ? i : -i - 1;
        }

        /**
         * Rewrites each {@code \p{X}} as its stand-in character plus its ASCII members, bare
         * inside a bracket expression and bracketed outside one.
         */
        static String collapseCategories(String regex) {
            StringBuilder out = new StringBuilder();
            boolean inBracket = false;
            for (int i = 0; i < regex.length(); i++) {
                char c = regex.charAt(i);
                boolean escaped = i > 0 && regex.charAt(i - 1) == '\\';
                if (c == '[' && !escaped) {
                    inBracket = true;
                } else if (c == ']' && !escaped && inBracket) {
                    inBracket = false;
                }
                if (c == '\\' && regex.startsWith("\\p{", i)) {
                    int close = regex.indexOf('}', i);
                    String members = UnicodeClass.members(regex.substring(i, close + 1));
                    out.append(inBracket ? members : "[" + members + "]");
                    i = close;
                    continue;
                }
                out.append(c);
            }
            return out.toString();
        }
    }
}
