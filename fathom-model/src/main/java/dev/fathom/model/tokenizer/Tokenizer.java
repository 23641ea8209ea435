package dev.fathom.model.tokenizer;

import dev.fathom.model.ModelFile;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * A byte-level BPE tokenizer (GGUF {@code tokenizer.ggml.model = gpt2}) read from the model file:
 * the vocabulary, the merges, the token types and special ids, and the pre-tokenizer. It encodes
 * and decodes as llama.cpp does, so the same text gives the same ids.
 *
 * <p>Encoding: special tokens are cut out of the text first (longest first), the rest is split
 * by the pre-tokenizer, each piece is written in the byte-level alphabet and merged pair by pair,
 * lowest merge rank first.
 */
public final class Tokenizer {
    public static final int NORMAL = 1;
    public static final int UNKNOWN = 2;
    public static final int CONTROL = 3;
    public static final int USER_DEFINED = 4;
    public static final int UNUSED = 5;
    public static final int BYTE = 6;

    /** Token texts that mark the end of a generation in the common model families. */
    private static final List<String> END_OF_GENERATION = List.of("<|eot_id|>", "<|im_end|>", "<|end|>",
            "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
            "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
            "<｜end▁of▁sentence｜>");

    private final String[] texts;
    private final byte[][] textBytes;
    private final int[] types;
    private final Map<String, Integer> ids;
    private final Map<String, Integer> mergeRanks;
    private final PreTokenizer pre;
    private final int bos;
    private final int eos;
    private final boolean addBos;
    private final boolean addEos;
    private final BitSet endOfGeneration = new BitSet();
    /** Special, control and user-defined tokens, longest text first: the order they are cut out in. */
    private final int[] specials;
    private final Map<String, int[]> pieceCache = new java.util.concurrent.ConcurrentHashMap<>();

    private Tokenizer(String[] texts, int[] types, String[] merges, PreTokenizer pre, int bos, int eos,
            boolean addBos, boolean addEos, int[] extraEndOfGeneration) {
        this.texts = texts;
        this.types = types;
        this.pre = pre;
        this.textBytes = new byte[texts.length][];
        this.ids = new HashMap<>(texts.length * 2);
        for (int i = 0; i < texts.length; i++) {
            textBytes[i] = texts[i].getBytes(StandardCharsets.UTF_8);
            ids.putIfAbsent(texts[i], i);
        }
        this.mergeRanks = new HashMap<>(merges.length * 2);
        for (int r = 0; r < merges.length; r++) {
            mergeRanks.putIfAbsent(merges[r], r);
        }
        this.bos = bos;
        this.eos = eos;
        this.addBos = addBos;
        this.addEos = addEos;
        for (String text : END_OF_GENERATION) {
            Integer id = ids.get(text);
            if (id != null) {
                endOfGeneration.set(id);
            }
        }
        if (eos >= 0) {
            endOfGeneration.set(eos);
        }
        for (int id : extraEndOfGeneration) {
            if (id >= 0) {
                endOfGeneration.set(id);
            }
        }
        // End-of-generation tokens are control tokens even where the file forgot to say so.
        endOfGeneration.stream().filter(id -> types[id] == NORMAL).forEach(id -> types[id] = CONTROL);
        this.specials = java.util.stream.IntStream.range(0, texts.length)
                .filter(i -> types[i] == CONTROL || types[i] == USER_DEFINED || types[i] == UNKNOWN)
                .boxed()
                .sorted(Comparator.<Integer>comparingInt(i -> -textBytes[i].length).thenComparingInt(i -> i))
                .mapToInt(Integer::intValue)
                .toArray();
    }

    /**
     * A tokenizer of a vocabulary made in memory (a trainer's): tokens, their types, merges in rank
     * order, the named pre-tokenizer; BOS added at the start of a text, as GGUF files made by the trainer say.
     */
    public static Tokenizer of(String[] texts, int[] types, String[] merges, String pre, int bos, int eos) {
        return new Tokenizer(texts.clone(), types.clone(), merges.clone(), PreTokenizer.named(pre), bos, eos, true, false,
                new int[] {-1, -1});
    }

    /** The tokenizer of a model, from its {@code tokenizer.ggml.*} metadata. */
    public static Tokenizer from(ModelFile gguf) {
        String model = gguf.getString("tokenizer.ggml.model");
        if (!model.equals("gpt2")) {
            throw gguf.error("tokenizer model '" + model + "' is not supported (supported: gpt2,"
                    + " the byte-level BPE of Llama 3, Qwen and DeepSeek)");
        }
        String[] texts = gguf.getStringArray("tokenizer.ggml.tokens");
        int[] types = gguf.has("tokenizer.ggml.token_type") ? gguf.getIntArray("tokenizer.ggml.token_type").clone()
                : filled(texts.length, NORMAL);
        if (types.length < texts.length) {
            throw gguf.error("tokenizer.ggml.token_type has " + types.length + " entries for "
                    + texts.length + " tokens");
        }
        String[] merges = gguf.getStringArray("tokenizer.ggml.merges");
        PreTokenizer pre;
        try {
            pre = PreTokenizer.named(gguf.getString("tokenizer.ggml.pre", null));
        } catch (IllegalArgumentException e) {
            throw gguf.error(e.getMessage());
        }
        int bos = tokenId(gguf, "tokenizer.ggml.bos_token_id", 11, texts.length);
        int eos = tokenId(gguf, "tokenizer.ggml.eos_token_id", 11, texts.length);
        int eot = tokenId(gguf, "tokenizer.ggml.eot_token_id", -1, texts.length);
        int eom = tokenId(gguf, "tokenizer.ggml.eom_token_id", -1, texts.length);
        boolean addBos = gguf.getBool("tokenizer.ggml.add_bos_token", pre.addsBos());
        boolean addEos = gguf.getBool("tokenizer.ggml.add_eos_token", false);
        return new Tokenizer(texts, Arrays.copyOf(types, texts.length), merges, pre, bos, eos, addBos, addEos,
                new int[] {eot, eom});
    }

    private static int tokenId(ModelFile gguf, String key, int fallback, int vocabulary) {
        int id = gguf.getInt(key, fallback);
        return id >= 0 && id < vocabulary ? id : (fallback < vocabulary ? fallback : -1);
    }

    private static int[] filled(int n, int value) {
        int[] a = new int[n];
        Arrays.fill(a, value);
        return a;
    }

    public int vocabularySize() {
        return texts.length;
    }

    public int bos() {
        return bos;
    }

    public int eos() {
        return eos;
    }

    /** Whether encoding with special tokens starts with BOS. */
    public boolean addsBos() {
        return addBos;
    }

    public boolean isEndOfGeneration(int token) {
        return token >= 0 && endOfGeneration.get(token);
    }

    /** The token's text as the vocabulary stores it (byte-level characters for normal tokens). */
    public String text(int token) {
        return texts[token];
    }

    public int type(int token) {
        return types[token];
    }

    /** The id of a token by its exact text, or -1. */
    public int id(String text) {
        return ids.getOrDefault(text, -1);
    }

    // ---- encoding ----

    /**
     * The token ids of {@code text}. {@code addSpecial} adds BOS/EOS as the model asks;
     * {@code parseSpecial} lets control tokens written in the text (such as
     * {@code <｜User｜>}) become those tokens rather than plain text.
     */
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        return encode(text.getBytes(StandardCharsets.UTF_8), addSpecial, parseSpecial);
    }

    /** As {@link #encode(String, boolean, boolean)}, for raw UTF-8 (malformed bytes are tolerated). */
    public int[] encode(byte[] utf8, boolean addSpecial, boolean parseSpecial) {
        IntList out = new IntList();
        if (addSpecial && addBos) {
            out.add(bos);
        }
        for (Fragment f : partition(utf8, parseSpecial)) {
            if (f.token >= 0) {
                out.add(f.token);
            } else {
                encodeText(Arrays.copyOfRange(utf8, f.from, f.to), out);
            }
        }
        if (addSpecial && addEos) {
            out.add(eos);
        }
        return out.toArray();
    }

    /** A stretch of the input: a special token, or raw text bytes [from, to). */
    private record Fragment(int token, int from, int to) {
    }

    private List<Fragment> partition(byte[] text, boolean parseSpecial) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.length == 0) {
            return fragments;
        }
        fragments.add(new Fragment(-1, 0, text.length));
        for (int id : specials) {
            if (!parseSpecial && types[id] != USER_DEFINED) {
                continue;
            }
            byte[] needle = textBytes[id];
            if (needle.length == 0) {
                continue;
            }
            List<Fragment> next = new ArrayList<>(fragments.size());
            for (Fragment f : fragments) {
                if (f.token >= 0) {
                    next.add(f);
                    continue;
                }
                int start = f.from;
                for (int at = indexOf(text, needle, start, f.to); at >= 0; at = indexOf(text, needle, start, f.to)) {
                    if (at > start) {
                        next.add(new Fragment(-1, start, at));
                    }
                    next.add(new Fragment(id, at, at + needle.length));
                    start = at + needle.length;
                }
                if (start < f.to) {
                    next.add(new Fragment(-1, start, f.to));
                }
            }
            fragments = next;
        }
        return fragments;
    }

    private static int indexOf(byte[] haystack, byte[] needle, int from, int to) {
        byte first = needle[0];
        for (int i = from; i + needle.length <= to; i++) {
            if (haystack[i] != first) {
                continue;
            }
            int j = 1;
            while (j < needle.length && haystack[i + j] == needle[j]) {
                j++;
            }
            if (j == needle.length) {
                return i;
            }
        }
        return -1;
    }

    private void encodeText(byte[] utf8, IntList out) {
        int[] cps = Utf8.codePoints(utf8);
        int[] bounds = pre.split(cps);
        for (int b = 0; b + 1 < bounds.length; b++) {
            String piece = ByteLevel.encode(Utf8.bytes(cps, bounds[b], bounds[b + 1]));
            int[] cached = pieceCache.get(piece);
            if (cached == null) {
                cached = encodePiece(piece);
                if (pieceCache.size() > 200_000) {
                    pieceCache.clear();
                }
                pieceCache.put(piece, cached);
            }
            out.addAll(cached);
        }
    }

    /** BPE on one piece of byte-level characters: merge the adjacent pair of lowest rank, leftmost first. */
    private int[] encodePiece(String piece) {
        if (pre.ignoreMerges()) {
            Integer whole = ids.get(piece);
            if (whole != null) {
                return new int[] {whole};
            }
        }
        int n = piece.length();
        String[] symbols = new String[n];
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            symbols[i] = String.valueOf(piece.charAt(i));
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Pair> queue = new PriorityQueue<>(
                Comparator.comparingInt(Pair::rank).thenComparingInt(Pair::left));
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, symbols, i, i + 1);
        }
        while (!queue.isEmpty()) {
            Pair p = queue.poll();
            int left = p.left;
            int right = left >= 0 ? next[left] : -1;
            if (right < 0 || symbols[left] == null || symbols[right] == null
                    || !(symbols[left] + " " + symbols[right]).equals(p.text)) {
                continue; // stale: one side has merged since this pair was queued
            }
            symbols[left] = symbols[left] + symbols[right];
            symbols[right] = null;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            if (prev[left] >= 0) {
                offer(queue, symbols, prev[left], left);
            }
            if (next[left] >= 0) {
                offer(queue, symbols, left, next[left]);
            }
        }
        IntList out = new IntList();
        for (int i = 0; i >= 0 && i < n; i = next[i]) {
            Integer id = ids.get(symbols[i]);
            if (id != null) {
                out.add(id);
                continue;
            }
            // A symbol outside the vocabulary falls back to its single characters; those missing too are dropped.
            for (char c : symbols[i].toCharArray()) {
                Integer single = ids.get(String.valueOf(c));
                if (single != null) {
                    out.add(single);
                }
            }
        }
        return out.toArray();
    }

    /** A mergeable neighbour pair: its merge rank, the left symbol's index and the merge's text. */
    private record Pair(int rank, int left, String text) {
    }

    private void offer(PriorityQueue<Pair> queue, String[] symbols, int left, int right) {
        String key = symbols[left] + " " + symbols[right];
        Integer rank = mergeRanks.get(key);
        if (rank != null) {
            queue.add(new Pair(rank, left, key));
        }
    }

    // ---- decoding ----

    /**
     * The bytes a token stands for. Control tokens are empty unless {@code special}; user-defined
     * tokens are their text; normal tokens are decoded from the byte-level alphabet.
     */
    public byte[] bytes(int token, boolean special) {
        if (token < 0 || token >= texts.length) {
            throw new IllegalArgumentException("token id " + token + " is outside the vocabulary of " + texts.length);
        }
        return switch (types[token]) {
            case CONTROL, UNKNOWN -> special ? textBytes[token] : new byte[0];
            case USER_DEFINED -> textBytes[token];
            case NORMAL -> byteLevelDecode(texts[token]);
            case BYTE -> new byte[] {(byte) Integer.parseInt(texts[token].substring(3, 5), 16)};
            default -> new byte[0];
        };
    }

    private static byte[] byteLevelDecode(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        for (int i = 0; i < text.length(); i++) {
            int b = ByteLevel.decode(text.charAt(i));
            if (b >= 0) {
                out.write(b);
            } else {
                byte[] raw = String.valueOf(text.charAt(i)).getBytes(StandardCharsets.UTF_8);
                out.write(raw, 0, raw.length);
            }
        }
        return out.toByteArray();
    }

    /** The text of {@code tokens}, special tokens rendered as their text if {@code special}. */
    public String decode(int[] tokens, boolean special) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int t : tokens) {
            byte[] b = bytes(t, special);
            out.write(b, 0, b.length);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        return pre.cleanSpaces() ? cleanSpaces(text) : text;
    }

    /** GPT-2's clean-up: no space before . , ! ? and before the contractions 's 'm 're 've. */
    static String cleanSpaces(String text) {
        return text.replace(" ?", "?").replace(" !", "!").replace(" .", ".").replace(" ,", ",")
                .replace(" ' ", "'").replace(" 's", "'s").replace(" 'm", "'m").replace(" 're", "'re")
                .replace(" 've", "'ve");
    }

    private static final class IntList {
        private int[] a = new int[16];
        private int n;

        void add(int v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        void addAll(int[] vs) {
            for (int v : vs) {
                add(v);
            }
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
