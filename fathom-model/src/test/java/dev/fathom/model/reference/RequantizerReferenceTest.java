package dev.fathom.model.reference;

import static dev.fathom.model.reference.ModelReferenceTest.argmax;
import static dev.fathom.model.reference.ModelReferenceTest.logits;
import static dev.fathom.model.reference.ModelReferenceTest.maxAbsDifference;
import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.Requantizer;
import dev.fathom.model.testing.LlamaCpp;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import tools.jackson.databind.JsonNode;

/**
 * A file Fathom requantizes is one llama.cpp loads and agrees with: the DeepSeek-V3-shaped f32
 * model written as Q8_0 and as Q4_K (with its fallback for the 32-wide k_b rows), then compared
 * on the same tokens as the other reference tests.
 */
class RequantizerReferenceTest {
    private static final String PROMPT = "Requantized weights, the same model: 深度求索 answers 42.";

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"Q8_0, Q8_0", "Q4_K, Q5_0"})
    void llamaCppLoadsTheFileAndAgrees(GgmlType target, GgmlType narrowRows) throws IOException {
        Path source = TestModels.get(Spec.deepSeekV3(GgmlType.F32));
        Path out = dir.resolve("requantized-" + target + ".gguf");
        try (GgufFile in = GgufFile.open(source); Parallel parallel = new Parallel(2)) {
            Requantizer.requantize(in, out, target, parallel);
        }
        try (GgufFile written = GgufFile.open(out)) {
            assertThat(written.tensor("blk.1.ffn_up_exps.weight").type()).isEqualTo(target);
            assertThat(written.tensor("blk.1.attn_k_b.weight").type()).isEqualTo(narrowRows);
            assertThat(written.tensor("blk.1.ffn_gate_inp.weight").type()).isEqualTo(GgmlType.F32);
            assertThat(written.tensor("blk.1.attn_kv_a_norm.weight").type()).isEqualTo(GgmlType.F32);
            assertThat(written.getInt("general.file_type")).isEqualTo(target == GgmlType.Q8_0 ? 7 : 14);
        }
        try (Model model = Model.open(out, 2)) {
            int[] prompt = model.tokenizer().encode(PROMPT, true, true);
            int[] positions = {0, prompt.length / 2, prompt.length - 1};
            List<JsonNode> answers = new LlamaCpp()
                    .add("logits", out, "tokens", prompt, "positions", positions)
                    .run();
            float[][] expected = LlamaCpp.floatVectors(answers.get(0), "logits");
            float[][] actual = logits(model.network(), KvCache.Type.F16, prompt, positions);
            for (int p = 0; p < positions.length; p++) {
                assertThat(argmax(actual[p])).as("top token at position %d", positions[p]).isEqualTo(argmax(expected[p]));
                assertThat(maxAbsDifference(actual[p], expected[p])).as("largest logit difference at %d", positions[p])
                        .isLessThanOrEqualTo(ModelReferenceTest.tolerance(target));
            }
        }
    }
}
