package dev.fathom.model.reference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.DeepSeek2;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import dev.fathom.model.safetensors.CheckpointConverter;
import dev.fathom.model.safetensors.HuggingFaceCheckpoint;
import dev.fathom.model.testing.TestCheckpoints;
import dev.fathom.model.testing.TestCheckpoints.Scales;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * DeepSeek's own checkpoint format, run in place: a V3-shaped checkpoint directory in FP8 with
 * 128 × 128 block scales (written by {@link TestCheckpoints} from the f32 test model's weights)
 * gives the f32 model's logits within FP8's rounding, gives exactly what its own conversion to
 * GGUF gives, and that conversion matches llama.cpp.
 */
class HuggingFaceCheckpointTest {
    private static final Spec SPEC = Spec.deepSeekV3WithMtp(GgmlType.F32);
    private static final String PROMPT = "DeepSeek publishes its weights in FP8, one scale per block of 128 × 128; "
            + "深度求索 runs them as they are, with no conversion step.";
    private static final int[] POSITIONS = {0, 7, 15, 23, 31};

    /**
     * How far FP8 weights may move the logits from the f32 weights they were made from. E4M3
     * keeps 3 mantissa bits (a relative error of up to 1/16 per weight); through four layers the
     * logits (standard deviation about 3) moved by up to 1.36 with f32 scales and 1.56 with
     * UE8M0 ones, whose power-of-two blocks use less of FP8's range.
     */
    private static final float FP8_TOLERANCE = 2.0f;

    @ParameterizedTest
    @EnumSource(Scales.class)
    void fp8CheckpointGivesTheF32ModelsLogitsWithinFp8Rounding(Scales scales) {
        try (Model fp8 = Model.open(TestCheckpoints.get(SPEC, scales), 2);
                Model f32 = Model.open(TestModels.get(SPEC), 2)) {
            int[] prompt = f32.tokenizer().encode(PROMPT, true, true);
            assertThat(fp8.tokenizer().encode(PROMPT, true, true)).as("token ids").containsExactly(prompt);
            float[][] a = ModelReferenceTest.logits(fp8.network(), KvCache.Type.F32, prompt, POSITIONS);
            float[][] b = ModelReferenceTest.logits(f32.network(), KvCache.Type.F32, prompt, POSITIONS);
            float worst = 0;
            int sameTop = 0;
            for (int p = 0; p < POSITIONS.length; p++) {
                worst = Math.max(worst, ModelReferenceTest.maxAbsDifference(a[p], b[p]));
                sameTop += ModelReferenceTest.argmax(a[p]) == ModelReferenceTest.argmax(b[p]) ? 1 : 0;
            }
            System.out.printf("FP8 (%s scales) against f32: largest logit difference %.4f, same top token at %d of %d%n",
                    scales, worst, sameTop, POSITIONS.length);
            assertThat(worst).isLessThanOrEqualTo(FP8_TOLERANCE);
            assertThat(sameTop).isGreaterThanOrEqualTo(POSITIONS.length - 1);
        }
    }

    /**
     * Converted to an f32 GGUF, the checkpoint's weights are the FP8 values times their scales,
     * exactly: Fathom gives the same logits on both (to 0.05: the checkpoint's bf16 head and
     * router meet bf16-rounded activations, their f32 conversions plain ones; measured 0.023),
     * and llama.cpp agrees on the file, logits and greedy continuation; a Q8_0 conversion's
     * logits match llama.cpp's at the quantized types' tolerance.
     */
    @Test
    void conversionToGgufGivesTheSameModelAndLoadsInLlamaCpp(@TempDir Path dir) throws IOException {
        Path checkpoint = TestCheckpoints.get(SPEC, Scales.F32);
        Path f32 = dir.resolve("converted-f32.gguf");
        Path q8 = dir.resolve("converted-q8_0.gguf");
        try (HuggingFaceCheckpoint in = HuggingFaceCheckpoint.open(checkpoint); Parallel parallel = new Parallel(2)) {
            CheckpointConverter.convert(in, f32, GgmlType.F32, parallel);
            CheckpointConverter.convert(in, q8, GgmlType.Q8_0, parallel);
        }
        try (Model direct = Model.open(checkpoint, 2); Model converted = Model.open(f32, 2)) {
            assertThat(converted.network().describe()).isEqualTo(direct.network().describe());
            int[] prompt = direct.tokenizer().encode(PROMPT, true, true);
            float[][] a = ModelReferenceTest.logits(direct.network(), KvCache.Type.F32, prompt, POSITIONS);
            float[][] b = ModelReferenceTest.logits(converted.network(), KvCache.Type.F32, prompt, POSITIONS);
            for (int p = 0; p < POSITIONS.length; p++) {
                assertThat(ModelReferenceTest.maxAbsDifference(a[p], b[p])).as("position %d", POSITIONS[p]).isLessThan(0.05f);
            }
        }
        ModelReferenceTest.assertMatchesLlamaCpp(f32, PROMPT, KvCache.Type.F32, 0.02f, "checkpoint converted to F32");
        // Quantized, the two engines agree within the type's tolerance (0.39 measured); a greedy
        // continuation then follows one engine or the other at the first near tie, which is why
        // the exact comparison is the f32 one above.
        ModelReferenceTest.assertLogitsMatchLlamaCpp(q8, PROMPT, KvCache.Type.F16, ModelReferenceTest.tolerance(GgmlType.Q8_0),
                "checkpoint converted to Q8_0");
    }

    /** The checkpoint's multi-token-prediction layer drafts; greedy output stays token for token the same. */
    @Test
    void draftingWithTheCheckpointsMtpLayerKeepsGreedyOutput() {
        try (Model model = Model.open(TestCheckpoints.get(SPEC, Scales.F32), 2)) {
            assertThat(((DeepSeek2) model.network()).hasMtp()).isTrue();
            int[] prompt = model.tokenizer().encode(PROMPT, true, true);
            Generation greedy = new Generation(SamplerSettings.greedy(), 32, List.of());
            int[] plain;
            try (Session session = model.newSession(256, 64)) {
                plain = session.generate(prompt, greedy, s -> { }, () -> false).tokens();
            }

            try (Session session = model.newSession(256, 64, KvCache.Type.F16, true)) {
                var result = session.generate(prompt, greedy, s -> { }, () -> false);
                assertThat(result.tokens()).containsExactly(plain);
                assertThat(result.timings().draftedTokens()).isPositive();
            }
        }
    }

    @Test
    void inspectionShowsTheCheckpointUnderGgufNames() {
        try (HuggingFaceCheckpoint in = HuggingFaceCheckpoint.open(TestCheckpoints.get(SPEC, Scales.F32))) {
            assertThat(in.shards()).isEqualTo(2);
            assertThat(in.getString("general.architecture")).isEqualTo("deepseek2");
            assertThat(in.getInt("deepseek2.nextn_predict_layers")).isEqualTo(1);
            assertThat(in.getString("tokenizer.ggml.pre")).isEqualTo("deepseek-v3");
            var experts = in.tensors().stream().filter(t -> t.name().equals("blk.1.ffn_gate_exps.weight")).findFirst().orElseThrow();
            assertThat(experts.shape()).containsExactly(256, 256, 8);
            assertThat(experts.type()).isEqualTo(GgmlType.F8_E4M3);
            assertThat(experts.sources()).hasSize(8).first().isEqualTo("model.layers.1.mlp.experts.0.gate_proj.weight");
            assertThat(Files.isDirectory(in.path())).isTrue();
        }
    }
}
