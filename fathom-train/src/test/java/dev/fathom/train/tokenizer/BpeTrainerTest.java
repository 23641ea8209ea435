package dev.fathom.train.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.model.testing.LlamaCpp;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.train.Pipeline;
import dev.fathom.train.tasks.Problem;
import dev.fathom.train.tasks.Problem.Family;
import dev.fathom.train.tasks.Tasks;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;

/**
 * A vocabulary trained on the task corpus, written as GGUF: Fathom and llama.cpp tokenize any
 * text to the same ids with it, numbers come out digit by digit, and every text decodes back.
 */
class BpeTrainerTest {
    private static final List<String> CONTROLS = Pipeline.CONTROLS;
    private static final List<String> USER_DEFINED = Pipeline.USER_DEFINED;

    @TempDir
    Path dir;

    @Test
    void fathomAndLlamaCppTokenizeAlikeWithTheTrainedVocabulary() throws Exception {
        SplittableRandom random = new SplittableRandom(5);
        List<String> corpus = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
            Problem p = Tasks.training(Family.values()[i % Family.values().length], 2 + random.nextInt(3), random);
            corpus.add(p.question());
            corpus.add(p.solution());
        }
        BpeTrainer.Vocabulary v = BpeTrainer.train(corpus, "qwen2", 400, CONTROLS, USER_DEFINED);
        assertThat(v.tokens()).hasSize(400);
        assertThat(v.merges()).hasSize(400 - 256 - CONTROLS.size() - USER_DEFINED.size());
        Path file = dir.resolve("trained-vocab.gguf");
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .putUint32("llama.context_length", 512)
                .putUint32("llama.embedding_length", 64)
                .putUint32("llama.block_count", 1)
                .putUint32("llama.feed_forward_length", 128)
                .putUint32("llama.attention.head_count", 1)
                .putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-6f);
        v.writeTo(w, CONTROLS.get(0), CONTROLS.get(1), null);
        w.write(file);

        List<String> texts = new ArrayList<>(corpus.subList(0, 6));
        texts.add("What is 48213 + 7?");
        texts.add("Ünïcödé, 世界 and emoji 🐋 are bytes too.\n\ttabs  and   spaces");
        texts.add("<｜User｜>What is 2 + 2?<｜Assistant｜><think>\n2 + 2 = 4.\n</think>\n\n4<｜end▁of▁sentence｜>");
        Tokenizer tokenizer;
        try (GgufFile gguf = GgufFile.open(file)) {
            tokenizer = Tokenizer.from(gguf);
        }
        LlamaCpp llama = new LlamaCpp();
        for (String text : texts) {
            llama.add("tokenize", file, "text", text);
        }
        List<JsonNode> answers = llama.run();
        for (int i = 0; i < texts.size(); i++) {
            int[] ours = tokenizer.encode(texts.get(i), true, true);
            assertThat(ours).as(texts.get(i)).containsExactly(LlamaCpp.ints(answers.get(i), "tokens"));
            assertThat(tokenizer.decode(java.util.Arrays.copyOfRange(ours, 1, ours.length), true)).isEqualTo(texts.get(i));
        }
        // The qwen2 pre-tokenizer splits numbers into digits: one token each, which is what lets a small model learn carries.
        int[] number = tokenizer.encode("48213", false, false);
        assertThat(number).hasSize(5);
        assertThat(tokenizer.id("<think>")).isEqualTo(v.id("<think>"));
        System.out.printf("trained %d merges; a worked solution takes %d tokens for %d characters%n", v.merges().length,
                tokenizer.encode(corpus.get(1), false, false).length, corpus.get(1).length());
    }
}
