package dev.fathom.model.reference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.safetensors.CheckpointConverter;
import dev.fathom.model.safetensors.HuggingFaceCheckpoint;
import dev.fathom.model.testing.TestCheckpoints;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The R1 distills as Hugging Face ships them: a Qwen2 or Llama checkpoint directory (safetensors,
 * config.json, the distill's tokenizer.json and template), written from the f32 test model's
 * weights. Run in place, it tokenizes, renders chats and computes logits as the GGUF file of the
 * same weights does (Llama's query and key rows reordered, its rope factors computed from the
 * config); converted to GGUF, llama.cpp agrees with it.
 */
class DistillCheckpointTest {
    private static final String PROMPT = "The distills ship as safetensors: 深度求索, 12345 + 678 = 13023 ✓\n\tdef f(x): return x";
    private static final int[] POSITIONS = {0, 5, 11, 17, 23};

    private static Spec spec(String architecture) {
        return architecture.equals("qwen2") ? Spec.qwen2(GgmlType.F32) : Spec.llama(GgmlType.F32);
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen2", "llama"})
    void theCheckpointRunsInPlaceAsItsGgufDoes(String architecture) {
        Spec spec = spec(architecture);
        try (Model hf = Model.open(TestCheckpoints.dense(spec), 2); Model gguf = Model.open(TestModels.get(spec), 2)) {
            assertThat(hf.network().describe()).isEqualTo(gguf.network().describe());
            String chat = gguf.chatTemplate().render(List.of(ChatMessage.user("What is 2 + 2?")), true);
            assertThat(hf.chatTemplate().render(List.of(ChatMessage.user("What is 2 + 2?")), true)).isEqualTo(chat);
            assertThat(hf.chatTokens(chat)).as("chat tokens, special ones included").containsExactly(gguf.chatTokens(chat));
            int[] prompt = gguf.tokenizer().encode(PROMPT, true, true);
            assertThat(hf.tokenizer().encode(PROMPT, true, true)).as("token ids").containsExactly(prompt);
            float[][] a = ModelReferenceTest.logits(hf.network(), KvCache.Type.F32, prompt, POSITIONS);
            float[][] b = ModelReferenceTest.logits(gguf.network(), KvCache.Type.F32, prompt, POSITIONS);
            float worst = 0;
            for (int p = 0; p < POSITIONS.length; p++) {
                worst = Math.max(worst, ModelReferenceTest.maxAbsDifference(a[p], b[p]));
                assertThat(ModelReferenceTest.argmax(a[p])).as("top token at %d", POSITIONS[p])
                        .isEqualTo(ModelReferenceTest.argmax(b[p]));
            }
            System.out.printf("%s checkpoint against its GGUF: largest logit difference %.2e%n", architecture, worst);
            // The same f32 weights in the same order: only the order of float additions may differ.
            assertThat(worst).isLessThan(1e-3f);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qwen2", "llama"})
    void convertedToGgufItLoadsInLlamaCppWithTheSameLogits(String architecture, @TempDir Path dir) throws IOException {
        Path converted = dir.resolve(architecture + "-converted.gguf");
        try (HuggingFaceCheckpoint in = HuggingFaceCheckpoint.open(TestCheckpoints.dense(spec(architecture)));
                Parallel parallel = new Parallel(2)) {
            CheckpointConverter.convert(in, converted, GgmlType.F32, parallel);
        }
        ModelReferenceTest.assertMatchesLlamaCpp(converted, PROMPT, KvCache.Type.F32, 0.02f,
                architecture + " checkpoint converted to F32");
    }
}
