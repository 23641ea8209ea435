package dev.fathom.model.reference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.testing.LlamaCpp;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.tensor.GgmlType;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;

/** Same file, same text: the same token ids as llama.cpp, and the same text back. */
class TokenizerReferenceTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen2", "llama"})
    void idsAndTextMatchLlamaCppOnTheDistillVocabularies(String architecture) {
        compare(TestModels.get(new Spec(architecture, GgmlType.Q8_0, 1, 1)));
    }

    /** DeepSeek-V3's vocabulary under each of DeepSeek's pre-tokenizers (their regexes are what differs). */
    @ParameterizedTest
    @ValueSource(strings = {"deepseek-v3", "deepseek-llm", "deepseek-coder"})
    void idsAndTextMatchLlamaCppOnTheDeepSeekPreTokenizers(String pre) {
        compare(TestModels.deepSeekVocabulary(pre));
    }

    private static void compare(Path model) {
        String architecture = model.getFileName().toString();
        LlamaCpp reference = new LlamaCpp();
        boolean[][] modes = {{true, true}, {false, false}, {true, false}};
        for (String text : Samples.TEXTS) {
            for (boolean[] mode : modes) {
                reference.add("tokenize", model, "text", text, "addSpecial", mode[0], "parseSpecial", mode[1]);
            }
        }
        List<JsonNode> answers = reference.run();
        LlamaCpp detokenize = new LlamaCpp();
        try (GgufFile gguf = GgufFile.open(model)) {
            Tokenizer tokenizer = Tokenizer.from(gguf);
            int i = 0;
            for (String text : Samples.TEXTS) {
                for (boolean[] mode : modes) {
                    int[] expected = LlamaCpp.ints(answers.get(i++), "tokens");
                    assertThat(tokenizer.encode(text, mode[0], mode[1]))
                            .as("%s, addSpecial=%s, parseSpecial=%s: %s", architecture, mode[0], mode[1], text)
                            .containsExactly(expected);
                    detokenize.add("detokenize", model, "tokens", expected, "special", true);
                }
            }
            List<JsonNode> texts = detokenize.run();
            i = 0;
            for (String text : Samples.TEXTS) {
                for (boolean[] mode : modes) {
                    int[] ids = tokenizer.encode(text, mode[0], mode[1]);
                    assertThat(tokenizer.decode(ids, true)).as("decoding %s", text)
                            .isEqualTo(texts.get(i++).get("text").asString());
                }
            }
        }
    }
}
