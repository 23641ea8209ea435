package dev.fathom.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.testing.TestCheckpoints;
import dev.fathom.model.testing.TestCheckpoints.Scales;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.tensor.GgmlType;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** The commands as a user runs them, in process: output, JSON shapes, speeds reported. */
class CommandsTest {
    static final Path MODEL = TestModels.get(Spec.qwen2(GgmlType.Q8_0));
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path dir;

    record Outcome(int code, String out, String err) {
        JsonNode json() {
            return JSON.readTree(out);
        }
    }

    static Outcome fathom(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Outcome(code, out.toString(), err.toString());
    }

    /** How many distinct colours an image holds, leaving out the greys of its text and axes. */
    private static long colours(BufferedImage image) {
        java.util.Set<Integer> seen = new java.util.HashSet<>();
        for (int y = 0; y < image.getHeight(); y++) {
            for (int x = 0; x < image.getWidth(); x++) {
                int rgb = image.getRGB(x, y) & 0xFFFFFF;
                int r = rgb >> 16;
                int g = rgb >> 8 & 0xFF;
                int b = rgb & 0xFF;
                if (Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) > 60) {
                    seen.add(rgb);
                }
            }
        }
        return seen.size();
    }

    private static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @Test
    void withoutAModelTheShippedOneAnswersAndEvalScoresItAndPlotsItsTraining() throws IOException {
        String home = System.getProperty("fathom.home");
        System.setProperty("fathom.home", Path.of("..").toAbsolutePath().normalize().toString()); // as ./fathom sets it
        try {
            Outcome r = fathom("run", "--chat", "-p", "What is 487 + 965?", "--temp", "0");
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.out()).contains("7 + 5 = 12, write 2, carry 1.").contains("</think>\n\n1452");
            Outcome ids = fathom("tokenize", "-p", "487 + 965", "--json");
            assertThat(ids.code()).as(ids.err()).isZero();
            assertThat(ids.out()).matches("\\[\\d+(,\\d+)+\\]\\s*")
                    .isEqualTo(fathom("tokenize", "-m", Path.of("..", ModelOptions.DEFAULT_MODEL).toString(), "-p", "487 + 965",
                            "--json").out());
            Outcome inspect = fathom("inspect");
            assertThat(inspect.code()).as(inspect.err()).isZero();
            assertThat(inspect.out()).contains("deepseek2");
            Path plots = dir.resolve("plots");
            Outcome eval = fathom("eval", "--problems", "2", "--samples", "2", "--plots", plots.toString());
            assertThat(eval.code()).as(eval.err()).isZero();
            assertThat(eval.out()).contains("| bucket | greedy pass@1 | sampled pass@1 | maj@2 | pass@2 |", "| addition 2-digit | 100% (2/2) |",
                    "| multiplication 2×2 |");
            // The shipped model carries its training curves: eval draws them next to its accuracy.
            for (String plot : List.of("accuracy.png", "loss.png", "grpo.png")) {
                assertThat(eval.err()).contains("wrote " + plots.resolve(plot));
                BufferedImage image = ImageIO.read(plots.resolve(plot).toFile());
                assertThat(image.getWidth()).as(plot).isGreaterThan(400);
                assertThat(colours(image)).as(plot + ": its series drawn besides the axes").isGreaterThan(3);
            }
        } finally {
            if (home == null) {
                System.clearProperty("fathom.home");
            } else {
                System.setProperty("fathom.home", home);
            }
        }
        Outcome missing = fathom("run", "-p", "x");
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("no model given (-m FILE) and the default model is not at");
        Outcome stage = fathom("train", "finetune", "-o", dir.resolve("x.gguf").toString());
        assertThat(stage.code()).isEqualTo(1);
        assertThat(stage.err()).contains("unknown stage 'finetune' (pretrain, sft, grpo or all)");
    }

    @Test
    void runJsonHasThePromptIdsTheGeneratedIdsTheTextAndTheTimings() {
        Outcome r = fathom("run", "-m", MODEL.toString(), "-p", "Hello world", "-n", "8", "--temp", "0", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = r.json();
        assertThat(ints(json.get("prompt_tokens"))).containsExactly(151646, 9707, 1879); // BOS first, as the model asks
        assertThat(json.get("tokens").size()).isBetween(1, 8);
        assertThat(json.get("timings").get("predicted_per_second").asDouble()).isPositive();
        assertThat(json.get("timings").get("prompt_n").asInt()).isEqualTo(3);
        try (GgufFile gguf = GgufFile.open(MODEL)) {
            assertThat(json.get("text").asString()).isEqualTo(Tokenizer.from(gguf).decode(ints(json.get("tokens")), false));
        }
    }

    @Test
    void runStreamsTheSameGreedyTextAndReportsSpeedsOnStderr() {
        String[] args = {"run", "-m", MODEL.toString(), "-p", "Once upon a time", "-n", "12", "--temp", "0"};
        Outcome streamed = fathom(args);
        assertThat(streamed.code()).isZero();
        assertThat(streamed.err()).contains("load:").contains("prompt:").contains("generation:").contains("tokens/s");
        String[] jsonArgs = java.util.Arrays.copyOf(args, args.length + 1);
        jsonArgs[args.length] = "--json";
        assertThat(streamed.out().stripTrailing()).isEqualTo(fathom(jsonArgs).json().get("text").asString().stripTrailing());
    }

    @Test
    void theJsonNamesTheSeedThatReproducesASampledRun() {
        String[] args = {"run", "-m", MODEL.toString(), "-p", "Once upon a time", "-n", "12", "--temp", "1.5", "--json"};
        JsonNode first = fathom(args).json();
        long seed = first.get("seed").asLong();
        String[] seeded = java.util.Arrays.copyOf(args, args.length + 2);
        seeded[args.length] = "--seed";
        seeded[args.length + 1] = Long.toString(seed);
        assertThat(ints(fathom(seeded).json().get("tokens"))).containsExactly(ints(first.get("tokens")));
    }

    @Test
    void runWithChatWrapsThePromptInTheR1Template() {
        Outcome r = fathom("run", "-m", MODEL.toString(), "--chat", "-p", "Hi", "-n", "2", "--temp", "0", "--json");
        int[] prompt = ints(r.json().get("prompt_tokens"));
        // <｜begin▁of▁sentence｜><｜User｜>Hi<｜Assistant｜><think>\n
        assertThat(prompt).startsWith(151646, 151644).endsWith(151645, 151648, 198);
    }

    @Test
    void runReadsThePromptFromAFile() throws IOException {
        Path prompt = Files.writeString(dir.resolve("prompt.txt"), "Hello world");
        Outcome r = fathom("run", "-m", MODEL.toString(), "-f", prompt.toString(), "-n", "1", "--json");
        assertThat(ints(r.json().get("prompt_tokens"))).containsExactly(151646, 9707, 1879);
    }

    @Test
    void tokenizePrintsIdsAndParsesSpecialTokens() {
        Outcome json = fathom("tokenize", "-m", MODEL.toString(), "-p", "<｜User｜>hi", "--json");
        assertThat(json.code()).isZero();
        assertThat(json.out().strip()).isEqualTo("[151646,151644,6023]");
        Outcome lines = fathom("tokenize", "-m", MODEL.toString(), "-p", "hi there", "--no-bos");
        assertThat(lines.out()).contains("6023 -> 'hi'").contains("1052 -> ' there'");
    }

    @Test
    void inspectShowsArchitectureMetadataAndTensors() {
        Outcome r = fathom("inspect", MODEL.toString());
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("architecture: qwen2").contains("tokenizer.ggml.pre").contains("\"deepseek-r1-qwen\"")
                .contains("blk.1.ffn_down.weight").contains("Q8_0");
    }

    @Test
    void benchReportsBothSpeedsAndTheBytesPerToken() {
        Outcome r = fathom("bench", "-m", MODEL.toString(), "-p", "16", "-n", "4", "-r", "1", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode json = r.json();
        assertThat(json.get("pp").asInt()).isEqualTo(16);
        assertThat(json.get("tg").asInt()).isEqualTo(4);
        assertThat(json.get("pp_tps").asDouble()).isPositive();
        assertThat(json.get("tg_tps").asDouble()).isPositive();
        assertThat(json.get("bytes_per_token").asLong()).isGreaterThan(10_000_000L); // the output layer alone is 41 MB
        Outcome text = fathom("bench", "-m", MODEL.toString(), "-p", "8", "-n", "2", "-r", "1");
        assertThat(text.out()).contains("pp8").contains("tg2").contains("GB/s");
    }

    @Test
    void deepSeekRunsAndBenchComparesItsLatentCacheWithPlainMultiHeadCaching() {
        Path deepSeek = TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0));
        Outcome run = fathom("run", "-m", deepSeek.toString(), "-p", "Hello", "-n", "4", "--temp", "0", "--json");
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(run.json().get("tokens").size()).isEqualTo(4);
        Outcome bench = fathom("bench", "-m", deepSeek.toString(), "-p", "8", "-n", "2", "-r", "1", "--json");
        assertThat(bench.code()).as(bench.err()).isZero();
        // 4 layers of 256 + 32 latent values in f16; 4 heads of 64-wide keys and values each for plain MHA.
        assertThat(bench.json().get("kv_bytes_per_token").asLong()).isEqualTo(4 * (256 + 32) * 2);
        assertThat(bench.json().get("mha_kv_bytes_per_token").asLong()).isEqualTo(4 * 4 * (64 + 64) * 2);
        Outcome text = fathom("bench", "-m", deepSeek.toString(), "-p", "8", "-n", "2", "-r", "1");
        assertThat(text.out()).contains("KV cache: 2,304 bytes per token (the latent;").contains("4,096");
    }

    @Test
    void mtpDraftsAreCountedByRunAndTimedByBench() {
        Path mtp = TestModels.get(Spec.deepSeekV3WithMtp(GgmlType.Q8_0));
        Outcome plain = fathom("run", "-m", mtp.toString(), "-p", "The whale", "-n", "12", "--temp", "0", "--json");
        Outcome drafted = fathom("run", "-m", mtp.toString(), "-p", "The whale", "-n", "12", "--temp", "0", "--json", "--mtp");
        assertThat(drafted.code()).as(drafted.err()).isZero();
        assertThat(ints(drafted.json().get("tokens"))).containsExactly(ints(plain.json().get("tokens")));
        assertThat(drafted.json().get("timings").get("draft_n").asInt()).isPositive();
        assertThat(drafted.json().get("timings").get("draft_n_accepted").asInt()).isPositive();
        Outcome bench = fathom("bench", "-m", mtp.toString(), "-p", "0", "-n", "8", "-r", "1", "--mtp", "--json");
        assertThat(bench.code()).as(bench.err()).isZero();
        assertThat(bench.json().get("mtp_tg_tps").asDouble()).isPositive();
        assertThat(bench.json().get("mtp_acceptance").asDouble()).isBetween(0.0, 1.0);
    }

    @Test
    void quantizeWritesTheWeightMatricesInTheNewType() {
        Path out = dir.resolve("q4_k.gguf");
        Outcome r = fathom("quantize", MODEL.toString(), out.toString(), "q4_k");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("wrote " + out);
        try (GgufFile gguf = GgufFile.open(out)) {
            assertThat(gguf.tensor("blk.0.ffn_up.weight").type()).isEqualTo(GgmlType.Q4_K);
            assertThat(gguf.tensor("blk.0.attn_norm.weight").type()).isEqualTo(GgmlType.F32);
        }
        Outcome generated = fathom("run", "-m", out.toString(), "-p", "Hello", "-n", "4", "--temp", "0", "--json");
        assertThat(generated.code()).as(generated.err()).isZero();
        assertThat(fathom("quantize", MODEL.toString(), dir.resolve("x.gguf").toString(), "q3_k").err())
                .contains("unknown type 'q3_k' (supported: f32, f16, q4_0, q4_1, q5_0, q5_1, q8_0, q4_k, q5_k, q6_k, bf16)");
    }

    @Test
    void aDistillsCheckpointDirectoryGivesTheRepliesOfItsGguf() {
        for (Spec spec : List.of(Spec.qwen2(GgmlType.F32), Spec.llama(GgmlType.F32))) {
            Outcome direct = fathom("run", "-m", TestCheckpoints.dense(spec).toString(), "--chat", "-p", "Hello",
                    "-n", "8", "--temp", "0", "--json");
            Outcome gguf = fathom("run", "-m", TestModels.get(spec).toString(), "--chat", "-p", "Hello", "-n", "8",
                    "--temp", "0", "--json");
            assertThat(direct.code()).as(direct.err()).isZero();
            assertThat(ints(direct.json().get("prompt_tokens"))).isEqualTo(ints(gguf.json().get("prompt_tokens")));
            assertThat(ints(direct.json().get("tokens"))).as(spec.architecture()).isEqualTo(ints(gguf.json().get("tokens")))
                    .hasSize(8);
        }
    }

    @Test
    void aHuggingFaceCheckpointDirectoryRunsInspectsAndConverts() {
        Path checkpoint = TestCheckpoints.get(Spec.deepSeekV3WithMtp(GgmlType.F32), Scales.F32);
        Outcome run = fathom("run", "-m", checkpoint.toString(), "-p", "Hello", "-n", "4", "--temp", "0", "--json");
        assertThat(run.code()).as(run.err()).isZero();
        assertThat(ints(run.json().get("prompt_tokens"))).startsWith(0); // V3's BOS, from tokenizer_config.json
        assertThat(run.json().get("tokens").size()).isBetween(1, 4);

        Outcome inspect = fathom("inspect", checkpoint.toString());
        assertThat(inspect.code()).as(inspect.err()).isZero();
        assertThat(inspect.out()).contains("Hugging Face checkpoint, 2 safetensors files")
                .contains("F8_E4M3").contains("blk.1.ffn_gate_exps.weight").contains("deepseek2.expert_group_count");

        Path out = dir.resolve("v3-q8_0.gguf");
        Outcome convert = fathom("convert", checkpoint.toString(), out.toString(), "--type", "q8_0");
        assertThat(convert.code()).as(convert.err()).isZero();
        assertThat(convert.err()).contains("wrote " + out);
        Outcome converted = fathom("inspect", out.toString());
        assertThat(converted.out()).contains("GGUF v3").contains("general.file_type").containsPattern("Q8_0 +\\d+ tensors");
        Outcome again = fathom("run", "-m", out.toString(), "-p", "Hello", "-n", "4", "--temp", "0", "--json");
        assertThat(ints(again.json().get("prompt_tokens"))).containsExactly(ints(run.json().get("prompt_tokens")));
    }

    @Test
    void helpListsTheCommands() {
        Outcome r = fathom("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("run").contains("chat").contains("tokenize").contains("inspect").contains("bench").contains("quantize")
                .contains("convert").contains("serve");
    }
}
