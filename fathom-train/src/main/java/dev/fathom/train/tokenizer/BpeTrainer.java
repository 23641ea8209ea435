package dev.fathom.train.tokenizer;

import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.model.tokenizer.ByteLevel;
import dev.fathom.model.tokenizer.PreTokenizer;
import dev.fathom.model.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Trains a byte-level BPE vocabulary, the kind llama.cpp reads as {@code tokenizer.ggml.model =
 * gpt2}: the 256 bytes first (so any text can be encoded), then one token per merge, learnt from
 * the corpus's pieces after the named pre-tokenizer has split it (the same splitting the
 * tokenizer applies when encoding), then the special tokens. Each step merges the most frequent
 * adjacent pair of symbols; ties go to the pair that sorts first, so training is deterministic.
 */
public final class BpeTrainer {
    /** The trained vocabulary: tokens in id order, their types, the merges in rank order. */
    public record Vocabulary(String[] tokens, int[] types, String[] merges, String pre) {
        /** The id of a token's text, or -1. */
        public int id(String text) {
            for (int i = 0; i < tokens.length; i++) {
                if (tokens[i].equals(text)) {
                    return i;
                }
            }
            return -1;
        }

        /** The tokenizer of this vocabulary, as a GGUF file written by {@link #writeTo} would give it. */
        public Tokenizer tokenizer(String bos, String eos) {
            return Tokenizer.of(tokens, types, merges, pre, id(bos), id(eos));
        }

        /** Writes the vocabulary's GGUF keys, as llama.cpp's converter names them. */
        public void writeTo(GgufWriter w, String bos, String eos, String chatTemplate) {
            w.putString("tokenizer.ggml.model", "gpt2")
                    .putString("tokenizer.ggml.pre", pre)
                    .putStrings("tokenizer.ggml.tokens", tokens)
                    .putInt32s("tokenizer.ggml.token_type", types)
                    .putStrings("tokenizer.ggml.merges", merges)
                    .putUint32("tokenizer.ggml.bos_token_id", id(bos))
                    .putUint32("tokenizer.ggml.eos_token_id", id(eos))
                    .putUint32("tokenizer.ggml.padding_token_id", id(eos))
                    .putBool("tokenizer.ggml.add_bos_token", true)
                    .putBool("tokenizer.ggml.add_eos_token", false);
            if (chatTemplate != null) {
                w.putString("tokenizer.chat_template", chatTemplate);
            }
        }
    }

    private BpeTrainer() {
    }

    /**
     * A vocabulary of {@code size} tokens learnt from {@code corpus}: 256 bytes, merges up to
     * {@code size} minus the specials, then {@code controls} (control tokens) and
     * {@code userDefined} (text-like specials such as {@code <think>}).
     */
    public static Vocabulary train(Iterable<String> corpus, String pre, int size, List<String> controls,
            List<String> userDefined) {
        int merges = size - 256 - controls.size() - userDefined.size();
        if (merges < 0) {
            throw new IllegalArgumentException(size + " tokens cannot hold the 256 bytes and "
                    + (controls.size() + userDefined.size()) + " special tokens");
        }
        PreTokenizer splitter = PreTokenizer.named(pre);
        // Distinct pieces with their counts, each as a list of symbols (initially its bytes).
        Map<String, Integer> counts = new HashMap<>();
        for (String text : corpus) {
            for (String piece : splitter.pieces(text)) {
                counts.merge(ByteLevel.encode(piece.getBytes(StandardCharsets.UTF_8)), 1, Integer::sum);
            }
        }
        List<List<String>> words = new ArrayList<>();
        List<Integer> weights = new ArrayList<>();
        counts.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            List<String> symbols = new ArrayList<>();
            e.getKey().codePoints().forEach(cp -> symbols.add(Character.toString(cp)));
            words.add(symbols);
            weights.add(e.getValue());
        });
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(ByteLevel.encode(new byte[] {(byte) b}));
        }
        List<String> mergeList = new ArrayList<>();
        for (int m = 0; m < merges; m++) {
            String[] best = mostFrequentPair(words, weights);
            if (best == null) {
                break; // every piece is one token already
            }
            mergeList.add(best[0] + " " + best[1]);
            String joined = best[0] + best[1];
            tokens.add(joined);
            for (List<String> w : words) {
                for (int i = 0; i + 1 < w.size(); i++) {
                    if (w.get(i).equals(best[0]) && w.get(i + 1).equals(best[1])) {
                        w.set(i, joined);
                        w.remove(i + 1);
                    }
                }
            }
        }
        int normal = tokens.size();
        tokens.addAll(controls);
        tokens.addAll(userDefined);
        int[] types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) {
            types[i] = i < normal ? Tokenizer.NORMAL : i < normal + controls.size() ? Tokenizer.CONTROL : Tokenizer.USER_DEFINED;
        }
        return new Vocabulary(tokens.toArray(String[]::new), types, mergeList.toArray(String[]::new), pre);
    }

    /** The adjacent pair with the highest weighted count (the first in sort order among equals), or null. */
    private static String[] mostFrequentPair(List<List<String>> words, List<Integer> weights) {
        Map<String, Integer> pairs = new HashMap<>();
        for (int j = 0; j < words.size(); j++) {
            List<String> w = words.get(j);
            for (int i = 0; i + 1 < w.size(); i++) {
                pairs.merge(w.get(i) + "\u0000" + w.get(i + 1), weights.get(j), Integer::sum);
            }
        }
        String best = null;
        int bestCount = 0;
        for (Map.Entry<String, Integer> e : pairs.entrySet()) {
            int c = e.getValue();
            if (c > bestCount || (c == bestCount && e.getKey().compareTo(best) < 0)) {
                best = e.getKey();
                bestCount = c;
            }
        }
        return best == null ? null : best.split("\u0000", 2);
    }
}
