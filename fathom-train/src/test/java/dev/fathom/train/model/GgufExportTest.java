package dev.fathom.train.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.Batch;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.arch.LanguageModel;
import dev.fathom.model.testing.LlamaCpp;
import dev.fathom.model.testing.TestModels;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import dev.fathom.train.Pipeline;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tasks.Tasks;
import dev.fathom.train.tokenizer.BpeTrainer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * The trainer's model, written as GGUF, is the model the engines run: Fathom's forward pass and
 * llama.cpp's give the trainer's logits (f32 file: to float rounding; Q8_0: to quantization
 * noise, but where an expert choice flips).
 */
public class GgufExportTest {
    @TempDir
    Path dir;

    @Test
    void fathomAndLlamaCppComputeTheTrainersLogits() throws Exception {
        SplittableRandom random = new SplittableRandom(3);
        List<String> corpus = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            Problem p = Tasks.training(Problem.Family.values()[i % Problem.Family.values().length], 2 + random.nextInt(2), random);
            corpus.add(p.question());
            corpus.add(p.solution());
        }
        BpeTrainer.Vocabulary vocabulary = BpeTrainer.train(corpus, "qwen2", 320, Pipeline.CONTROLS, Pipeline.USER_DEFINED);
        ModelConfig config = new ModelConfig(320, 64, 3, 1, 2, 32, 32, 16, 16, 16, 96, 4, 2, 32, 10000, 128);
        Parameters parameters = Parameters.of(config);
        parameters.initialize(config, 0.2, 4);
        int[] tokens = new int[24];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = random.nextInt(256);
        }
        try (Parallel parallel = new Parallel(2)) {
            MiniDeepSeek model = new MiniDeepSeek(config, parameters, parallel);
            model.forward(tokens, 1, tokens.length);
            model.balanceLoad(0.3); // a routing bias that matters, exported with the weights
            double[] expected = model.forward(tokens, 1, tokens.length);
            String template = TestModels.template("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B");
            for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.Q8_0}) {
                Path file = dir.resolve("mini-" + type.name().toLowerCase() + ".gguf");
                GgufExport.write(model, vocabulary, Pipeline.BOS, Pipeline.EOS, template, "mini", type, Map.of(), file);
                float[] fathom;
                try (Model engine = Model.open(file, 2)) {
                    fathom = logits(engine.network(), tokens);
                }
                JsonNode answer = new LlamaCpp().add("logits", file, "tokens", tokens, "positions", positions(tokens.length),
                        "kvType", "F32").run().getFirst();
                float[][] llama = LlamaCpp.floatVectors(answer, "logits");
                double fathomError = 0;
                double llamaError = 0;
                int sameTop = 0;
                int fathomClose = 0; // positions within quantization noise of the trainer
                int llamaClose = 0;
                for (int t = 0; t < tokens.length; t++) {
                    int v = config.vocabulary();
                    int top = 0;
                    int fathomTop = 0;
                    for (int j = 0; j < v; j++) {
                        fathomError = Math.max(fathomError, Math.abs(fathom[t * v + j] - expected[t * v + j]));
                        llamaError = Math.max(llamaError, Math.abs(llama[t][j] - expected[t * v + j]));
                        top = expected[t * v + j] > expected[t * v + top] ? j : top;
                        fathomTop = fathom[t * v + j] > fathom[t * v + fathomTop] ? j : fathomTop;
                    }
                    sameTop += top == fathomTop ? 1 : 0;
                    double fathomHere = 0;
                    double llamaHere = 0;
                    for (int j = 0; j < v; j++) {
                        fathomHere = Math.max(fathomHere, Math.abs(fathom[t * v + j] - expected[t * v + j]));
                        llamaHere = Math.max(llamaHere, Math.abs(llama[t][j] - expected[t * v + j]));
                    }
                    fathomClose += fathomHere < 0.5 ? 1 : 0;
                    llamaClose += llamaHere < 0.5 ? 1 : 0;
                }
                System.out.printf("%s export: largest logit difference from the trainer: Fathom %.5f, llama.cpp %.5f;"
                        + " within 0.5 at %d and %d of %d positions; same top token %d%n", type, fathomError, llamaError,
                        fathomClose, llamaClose, tokens.length, sameTop);
                if (type == GgmlType.F32) {
                    assertThat(fathomError).isLessThan(1e-3);
                    assertThat(llamaError).isLessThan(1e-3);
                } else {
                    // Quantization noise may flip a token's expert choice where two are near a tie, and
                    // each engine's noise is its own: that token's logits move; the others stay close.
                    assertThat(fathomClose).isGreaterThanOrEqualTo(tokens.length - 2);
                    assertThat(llamaClose).isGreaterThanOrEqualTo(tokens.length - 2);
                }
            }
        }
    }

    private static int[] positions(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        return p;
    }

    /** The engine's logits at every position of {@code tokens}, in one forward pass. */
    public static float[] logits(LanguageModel network, int[] tokens) {
        try (KvCache cache = network.newCache(KvCache.Type.F32, 1, 128)) {
            Batch batch = new Batch(tokens.length);
            for (int i = 0; i < tokens.length; i++) {
                batch.add(tokens[i], i, 0, true);
            }
            float[] out = new float[tokens.length * network.vocabularySize()];
            network.forward(batch, cache, out);
            return out;
        }
    }
}
