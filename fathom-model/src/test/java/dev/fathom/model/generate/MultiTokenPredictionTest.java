package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.generate.Generation.Result;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Drafting with the multi-token-prediction layer changes how fast a reply comes, never what it
 * is: the same tokens, greedy or sampled, in one turn or continuing a conversation.
 */
class MultiTokenPredictionTest {
    private static Model model;

    @BeforeAll
    static void open() {
        model = Model.open(TestModels.get(Spec.deepSeekV3WithMtp(GgmlType.Q8_0)), 2);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static Result[] conversation(boolean drafts, SamplerSettings sampler) {
        Generation generation = new Generation(sampler, 40, List.of());
        try (Session session = model.newSession(512, 16, KvCache.Type.F16, drafts)) {
            int[] first = model.tokenizer().encode("The whale sings across the deep ocean at night", true, true);
            Result one = session.generate(first, generation, s -> { }, () -> false);
            int[] second = new int[first.length + one.tokens().length + 3];
            System.arraycopy(first, 0, second, 0, first.length);
            System.arraycopy(one.tokens(), 0, second, first.length, one.tokens().length);
            System.arraycopy(model.tokenizer().encode(" and then", false, false), 0, second,
                    first.length + one.tokens().length, 2);
            second[second.length - 1] = first[1];
            Result two = session.generate(second, generation, s -> { }, () -> false);
            return new Result[] {one, two};
        }
    }

    @Test
    void greedyRepliesAreTheSameWithDraftsAndMostDraftsAreConfirmed() {
        Result[] plain = conversation(false, SamplerSettings.greedy());
        Result[] drafted = conversation(true, SamplerSettings.greedy());
        for (int turn = 0; turn < 2; turn++) {
            assertThat(drafted[turn].tokens()).as("turn %d", turn).containsExactly(plain[turn].tokens());
            assertThat(drafted[turn].text()).isEqualTo(plain[turn].text());
            assertThat(plain[turn].timings().draftedTokens()).isZero();
        }
        Generation.Timings t = drafted[0].timings();
        System.out.printf("drafted %d, confirmed %d (%.0f%%) for %d tokens%n", t.draftedTokens(), t.acceptedDrafts(),
                100 * t.acceptanceRate(), t.generatedTokens());
        assertThat(t.draftedTokens()).isPositive();
        assertThat(t.acceptanceRate()).isGreaterThan(0.5);
    }

    @Test
    void sampledRepliesAreTheSameWithDrafts() {
        SamplerSettings sampled = new SamplerSettings(0.9f, 40, 0.95f, 0.05f, 1.1f, 64, 0f, 0f, 1234L);
        Result[] plain = conversation(false, sampled);
        Result[] drafted = conversation(true, sampled);
        for (int turn = 0; turn < 2; turn++) {
            assertThat(drafted[turn].tokens()).as("turn %d", turn).containsExactly(plain[turn].tokens());
        }
    }

    @Test
    void draftsNeedAModelWithTheLayer() {
        try (Model withoutMtp = Model.open(TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0)), 1)) {
            assertThatThrownBy(() -> withoutMtp.newSession(64, 16, KvCache.Type.F16, true))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no multi-token-prediction layer");
        }
    }
}
