package dev.fathom.model.arch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.testing.GgufEdit;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LlamaConfigTest {
    @TempDir
    Path dir;

    private final Path good = TestModels.get(new Spec("qwen2", GgmlType.Q8_0, 1, 1));

    private float ropeScale(String type, float factor) {
        Path file = new GgufEdit().set("qwen2.rope.scaling.type", GgufValue.of(GgufType.STRING, type))
                .set("qwen2.rope.scaling.factor", GgufValue.of(GgufType.FLOAT32, factor))
                .apply(good, dir.resolve(type + ".gguf"));
        try (GgufFile gguf = GgufFile.open(file)) {
            return LlamaConfig.from(gguf, 100).ropeScale();
        }
    }

    @Test
    void linearScalingDividesTheAnglesByTheFactorAndNoneIgnoresIt() {
        assertThat(ropeScale("linear", 4f)).isEqualTo(0.25f);
        assertThat(ropeScale("none", 4f)).isEqualTo(1f); // as llama.cpp, whatever the factor says
    }
}
