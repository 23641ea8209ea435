package dev.fathom.model.safetensors;

import dev.fathom.model.ModelFileException;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;

/**
 * A {@code tokenizer.json} (and its {@code tokenizer_config.json}) in the words of GGUF: the
 * {@code tokenizer.ggml.*} metadata and chat template that llama.cpp's converter writes, so that
 * one tokenizer serves both formats. Only byte-level BPE is read, with the pre-tokenizer
 * recognised from its split patterns (DeepSeek-V3's, DeepSeek LLM's of V2, or those of Qwen2 and
 * Llama 3, which the R1 distills keep).
 */
final class HuggingFaceTokenizer {
    private HuggingFaceTokenizer() {
    }

    /**
     * Puts the tokenizer's metadata into {@code out}: tokens padded to {@code vocabularySize}
     * (the embedding's rows) with unused placeholders, as the converter does.
     */
    static void putMetadata(Path file, JsonNode tokenizer, Path configFile, JsonNode config, int vocabularySize,
            Map<String, GgufValue> out) {
        JsonNode model = tokenizer.path("model");
        if (!model.path("type").asString("").equals("BPE") || !tokenizer.path("decoder").path("type").asString("").equals("ByteLevel")) {
            throw new ModelFileException(file + ": only byte-level BPE tokenizers are supported (model.type BPE, decoder"
                    + " ByteLevel), not " + model.path("type").asString("?") + " with a "
                    + tokenizer.path("decoder").path("type").asString("?") + " decoder");
        }
        String[] tokens = new String[vocabularySize];
        int[] types = new int[vocabularySize];
        for (Map.Entry<String, JsonNode> e : model.path("vocab").properties()) {
            int id = tokenId(file, e.getKey(), e.getValue(), vocabularySize);
            tokens[id] = e.getKey();
            types[id] = Tokenizer.NORMAL;
        }
        for (JsonNode added : tokenizer.path("added_tokens")) {
            String text = added.path("content").asString("");
            int id = tokenId(file, text, added.path("id"), vocabularySize);
            tokens[id] = text;
            // As the converter types them: special, or shaped like a special token, is control.
            boolean looksSpecial = (text.startsWith("<｜") && text.endsWith("｜>")) || (text.startsWith("<|") && text.endsWith("|>"));
            types[id] = added.path("special").asBoolean(false) || looksSpecial ? Tokenizer.CONTROL : Tokenizer.USER_DEFINED;
        }
        for (int id = 0; id < vocabularySize; id++) {
            if (tokens[id] == null) {
                tokens[id] = "[PAD" + id + "]";
                types[id] = Tokenizer.UNUSED;
            }
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            merges.add(m.isArray() ? m.get(0).asString() + " " + m.get(1).asString() : m.asString());
        }
        out.put("tokenizer.ggml.model", GgufValue.of(GgufType.STRING, "gpt2"));
        out.put("tokenizer.ggml.pre", GgufValue.of(GgufType.STRING, preTokenizer(file, tokenizer.path("pre_tokenizer"))));
        out.put("tokenizer.ggml.tokens", GgufValue.array(GgufType.STRING, tokens));
        out.put("tokenizer.ggml.token_type", GgufValue.array(GgufType.INT32, types));
        out.put("tokenizer.ggml.merges", GgufValue.array(GgufType.STRING, merges.toArray(String[]::new)));
        Map<String, Integer> ids = new HashMap<>();
        for (int id = 0; id < tokens.length; id++) {
            ids.putIfAbsent(tokens[id], id);
        }
        putSpecial(configFile, config, "bos_token", "tokenizer.ggml.bos_token_id", ids, out);
        putSpecial(configFile, config, "eos_token", "tokenizer.ggml.eos_token_id", ids, out);
        putSpecial(configFile, config, "pad_token", "tokenizer.ggml.padding_token_id", ids, out);
        if (config.has("add_bos_token")) {
            out.put("tokenizer.ggml.add_bos_token", GgufValue.of(GgufType.BOOL, config.get("add_bos_token").asBoolean()));
        }
        if (config.has("add_eos_token")) {
            out.put("tokenizer.ggml.add_eos_token", GgufValue.of(GgufType.BOOL, config.get("add_eos_token").asBoolean()));
        }
        String template = chatTemplate(config.path("chat_template"));
        if (template != null) {
            out.put("tokenizer.chat_template", GgufValue.of(GgufType.STRING, template));
        }
    }

    private static int tokenId(Path file, String text, JsonNode id, int vocabularySize) {
        if (!id.canConvertToInt() || id.asInt() < 0 || id.asInt() >= vocabularySize) {
            throw new ModelFileException(file + ": token " + text + " has id " + id + ", outside the vocabulary of "
                    + vocabularySize + " (config.json vocab_size)");
        }
        return id.asInt();
    }

    /** The start and end of the split pattern that Qwen2 and Llama 3 share, around their numbers. */
    private static final String WORDS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|";
    private static final String REST = "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** The {@code tokenizer.ggml.pre} whose splits the pre-tokenizer's patterns make. */
    private static String preTokenizer(Path file, JsonNode pre) {
        List<String> patterns = new ArrayList<>();
        Iterable<JsonNode> steps = pre.path("type").asString("").equals("Sequence") ? pre.path("pretokenizers") : List.of(pre);
        for (JsonNode step : steps) {
            if (step.path("type").asString("").equals("Split")) {
                patterns.add(step.path("pattern").path("Regex").asString(""));
            }
        }
        if (patterns.size() == 3 && patterns.get(0).equals("\\p{N}{1,3}") && patterns.get(1).startsWith("[\u4e00-\u9fa5")) {
            return "deepseek-v3";
        }
        if (patterns.size() >= 5 && patterns.get(0).equals("[\r\n]") && patterns.get(1).startsWith("\\s?[A-Za-z")) {
            return "deepseek-llm";
        }
        // Qwen2's and Llama 3's one pattern differ in the numbers: single digits, or up to three.
        if (patterns.size() == 1 && patterns.getFirst().equals(WORDS + "\\p{N}" + REST)) {
            return "qwen2";
        }
        if (patterns.size() == 1 && patterns.getFirst().equals(WORDS + "\\p{N}{1,3}" + REST)) {
            return "llama-bpe";
        }
        throw new ModelFileException(file + ": the pre-tokenizer is not one Fathom knows (DeepSeek-V3's, DeepSeek LLM's,"
                + " Qwen2's or Llama 3's); its split patterns are " + patterns);
    }

    /** {@code key} of tokenizer_config.json (a string, or an object with a content), by id. */
    private static void putSpecial(Path file, JsonNode config, String key, String ggufKey, Map<String, Integer> ids,
            Map<String, GgufValue> out) {
        JsonNode token = config.path(key);
        String text = token.isString() ? token.asString() : token.path("content").asString(null);
        if (text == null) {
            return;
        }
        Integer id = ids.get(text);
        if (id == null) {
            throw new ModelFileException(file + ": " + key + " " + text + " is not a token of tokenizer.json");
        }
        out.put(ggufKey, GgufValue.of(GgufType.UINT32, (long) id));
    }

    /** The template: a string, or the one named "default" of a list of named templates. */
    private static String chatTemplate(JsonNode template) {
        if (template.isString()) {
            return template.asString();
        }
        for (JsonNode named : template) {
            if (named.path("name").asString("").equals("default")) {
                return named.path("template").asString(null);
            }
        }
        return null;
    }
}
