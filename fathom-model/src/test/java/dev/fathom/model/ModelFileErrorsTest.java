package dev.fathom.model;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.gguf.GgufException;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.testing.GgufEdit;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model file that cannot be run says precisely why, naming the file. */
class ModelFileErrorsTest {
    @TempDir
    Path dir;

    private final Path good = TestModels.get(new Spec("qwen2", GgmlType.Q8_0, 1, 1));

    @Test
    void anUnknownArchitectureIsNamed() {
        Path file = new GgufEdit().set("general.architecture", GgufValue.of(GgufType.STRING, "mamba"))
                .apply(good, dir.resolve("mamba.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).isInstanceOf(GgufException.class)
                .hasMessage(file + ": unknown architecture 'mamba' (general.architecture); supported: llama, qwen2, deepseek2");
    }

    @Test
    void anUnsupportedTensorTypeIsNamedWithTheTensor() {
        Path file = new GgufEdit().retype("blk.0.ffn_up.weight", GgmlType.IQ2_XXS).apply(good, dir.resolve("iq2.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).isInstanceOf(GgufException.class)
                .hasMessageStartingWith(file + ": tensor blk.0.ffn_up.weight has type IQ2_XXS, which Fathom does not support");
    }

    @Test
    void aMissingTensorIsNamed() {
        Path file = new GgufEdit().dropTensor("blk.0.ffn_down.weight").apply(good, dir.resolve("missing.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).hasMessage(file + ": required tensor blk.0.ffn_down.weight is missing");
    }

    @Test
    void anUnknownPreTokenizerIsNamed() {
        Path file = new GgufEdit().set("tokenizer.ggml.pre", GgufValue.of(GgufType.STRING, "klingon"))
                .apply(good, dir.resolve("pre.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).hasMessageStartingWith(file + ": unknown pre-tokenizer type 'klingon'");
    }

    @Test
    void missingHyperParametersAreNamed() {
        Path file = new GgufEdit().set("qwen2.block_count", GgufValue.of(GgufType.STRING, "two"))
                .apply(good, dir.resolve("bad.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1))
                .hasMessage(file + ": metadata qwen2.block_count should be an integer, but is string");
    }

    @Test
    void sizesThatCannotBeRightAreNamed() {
        Path file = new GgufEdit().set("qwen2.attention.head_count", GgufValue.of(GgufType.UINT32, 0))
                .apply(good, dir.resolve("heads.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).isInstanceOf(GgufException.class)
                .hasMessage(file + ": metadata qwen2.attention.head_count = 0 must be positive");
    }

    @Test
    void aDeepSeekFileWithoutItsKeyProjectionIsNamed() {
        Path file = new GgufEdit().dropTensor("blk.1.attn_k_b.weight").apply(deepSeek(), dir.resolve("k_b.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).hasMessage(file + ": required tensor blk.1.attn_k_b.weight is missing");
    }

    @Test
    void aMissingExpertTensorIsNamed() {
        Path file = new GgufEdit().dropTensor("blk.2.ffn_up_exps.weight").apply(deepSeek(), dir.resolve("experts.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1)).hasMessage(file + ": required tensor blk.2.ffn_up_exps.weight is missing");
    }

    @Test
    void routingThatCannotPickEnoughExpertsIsNamed() {
        Path file = new GgufEdit().set("deepseek2.expert_used_count", GgufValue.of(GgufType.UINT32, 9))
                .apply(deepSeek(), dir.resolve("routing.gguf"));
        assertThatThrownBy(() -> Model.open(file, 1))
                .hasMessage(file + ": 8 experts with 9 used per token cannot route");
    }

    private static Path deepSeek() {
        return TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0));
    }
}
