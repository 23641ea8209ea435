package dev.fathom.model.arch;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Attention's two paths give the same logits, for the latent attention of DeepSeek and the
 * grouped-query attention of Qwen2 and Llama: a prompt's tokens in blocks of queries against
 * blocks of cached keys, and tokens one at a time. A prompt of 150 tokens spans several key
 * blocks and several query blocks; the f32 cache leaves only summation order apart.
 */
class AttentionBlocksTest {
    private static final int PROMPT = 150;

    static Stream<Spec> models() {
        return Stream.of(Spec.deepSeekV3(GgmlType.F32), Spec.qwen2(GgmlType.F32), Spec.llama(GgmlType.F32));
    }

    @ParameterizedTest
    @MethodSource("models")
    void aPromptInBlocksGivesWhatItGivesTokenByToken(Spec spec) {
        try (Model model = Model.open(TestModels.get(spec), 2)) {
            LanguageModel network = model.network();
            int vocab = network.vocabularySize();
            int[] tokens = new SplittableRandom(5).ints(PROMPT, 0, vocab).toArray();
            float[] blocked = new float[PROMPT * vocab];
            float[] single = new float[vocab];
            try (KvCache a = network.newCache(KvCache.Type.F32, 1, 256); KvCache b = network.newCache(KvCache.Type.F32, 1, 256)) {
                Batch prompt = new Batch(PROMPT);
                for (int i = 0; i < PROMPT; i++) {
                    prompt.add(tokens[i], i, 0, true);
                }
                network.forward(prompt, a, blocked);
                Batch one = new Batch(1);
                for (int i = 0; i < PROMPT; i++) {
                    network.forward(one.clear().add(tokens[i], i, 0, true), b, single);
                    float worst = 0;
                    for (int v = 0; v < vocab; v++) {
                        worst = Math.max(worst, Math.abs(single[v] - blocked[i * vocab + v]));
                    }
                    assertThat(worst).as("largest logit difference at position %d", i).isLessThan(1e-3f);
                }
            }
        }
    }

    /**
     * A batch as the server makes them: one sequence's next token beside another's prompt chunk.
     * Each gets the logits it gets alone.
     */
    @ParameterizedTest
    @MethodSource("models")
    void aReplyTokenBesideAPromptChunkGetsWhatItGetsAlone(Spec spec) {
        try (Model model = Model.open(TestModels.get(spec), 2)) {
            LanguageModel network = model.network();
            int vocab = network.vocabularySize();
            int[] tokens = new SplittableRandom(9).ints(60, 0, vocab).toArray();
            try (KvCache together = network.newCache(KvCache.Type.F32, 2, 128);
                    KvCache alone = network.newCache(KvCache.Type.F32, 2, 128)) {
                Batch batch = new Batch(64);
                for (int i = 0; i < 20; i++) { // sequence 0's prompt, read before
                    batch.add(tokens[i], i, 0, false);
                }
                network.forward(batch, together, new float[0]);
                network.forward(batch, alone, new float[0]);
                batch.clear().add(tokens[20], 20, 0, true);
                for (int i = 0; i < 40; i++) { // sequence 1's prompt, in one run
                    batch.add(tokens[20 + i], i, 1, i == 39);
                }
                float[] both = new float[2 * vocab];
                network.forward(batch, together, both);
                float[] reply = new float[vocab];
                network.forward(new Batch(1).add(tokens[20], 20, 0, true), alone, reply);
                float[] chunk = new float[vocab];
                Batch prompt = new Batch(40);
                for (int i = 0; i < 40; i++) {
                    prompt.add(tokens[20 + i], i, 1, i == 39);
                }
                network.forward(prompt, alone, chunk);
                for (int v = 0; v < vocab; v++) {
                    assertThat(both[v]).isCloseTo(reply[v], org.assertj.core.data.Offset.offset(1e-3f));
                    assertThat(both[vocab + v]).isCloseTo(chunk[v], org.assertj.core.data.Offset.offset(1e-3f));
                }
            }
        }
    }
}
