package dev.fathom.serve;

import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.testing.GgufEdit;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.io.IOException;
import java.nio.file.Path;

/** Models for the server's tests. */
final class ServeTestModels {
    private ServeTestModels() {
    }

    /** The small qwen2 test model with the R1 template, whose replies always reason. */
    static Path reasoning() {
        return TestModels.get(new Spec("qwen2", GgmlType.Q8_0, 1, 1));
    }

    /**
     * The same model with DeepSeek-V3.1's template, which has a thinking and a non-thinking mode:
     * with random weights a reply never closes its reasoning, so with thinking on everything is
     * reasoning, and with it off everything is the answer.
     */
    static Path twoModes(Path dir) throws IOException {
        return new GgufEdit().set("tokenizer.chat_template",
                GgufValue.of(GgufType.STRING, TestModels.template("deepseek-ai-DeepSeek-V3.1")))
                .apply(reasoning(), dir.resolve("v31.gguf"));
    }
}
