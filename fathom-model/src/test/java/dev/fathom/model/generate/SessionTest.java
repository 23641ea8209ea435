package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.Model;
import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class SessionTest {
    private static Model model;

    @BeforeAll
    static void open() {
        model = Model.open(TestModels.get(Spec.qwen2(GgmlType.Q8_0)), 2);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static Generation greedy(int maxTokens, List<String> stops) {
        return new Generation(SamplerSettings.greedy(), maxTokens, stops);
    }

    @Test
    void aPromptThatExtendsTheCachedOneOnlyEvaluatesTheNewTokens() {
        int[] first = model.tokenizer().encode("The whale swims", true, true);
        try (Session session = model.newSession(256, 8)) {
            Generation.Result a = session.generate(first, greedy(5, List.of()), s -> { }, () -> false);
            int[] more = model.tokenizer().encode(" and then it dives deep", false, false);
            int[] second = new int[first.length + a.tokens().length + more.length];
            System.arraycopy(first, 0, second, 0, first.length);
            System.arraycopy(a.tokens(), 0, second, first.length, a.tokens().length);
            System.arraycopy(more, 0, second, first.length + a.tokens().length, more.length);
            Generation.Result b = session.generate(second, greedy(5, List.of()), s -> { }, () -> false);
            // The last generated token was never evaluated, so everything before it is reused.
            assertThat(b.timings().cachedTokens()).isEqualTo(first.length + a.tokens().length - 1);
            try (Session fresh = model.newSession(256, 8)) {
                assertThat(fresh.generate(second, greedy(5, List.of()), s -> { }, () -> false).tokens())
                        .containsExactly(b.tokens());
            }
        }
    }

    @Test
    void streamedPiecesAddUpToTheTextAndStopAtTheLimit() {
        int[] prompt = model.tokenizer().encode("Once upon a time", true, true);
        List<String> pieces = new ArrayList<>();
        try (Session session = model.newSession(256, 512)) {
            Generation.Result r = session.generate(prompt, greedy(12, List.of()), pieces::add, () -> false);
            assertThat(String.join("", pieces)).isEqualTo(r.text());
            assertThat(r.stopReason()).isIn(Generation.StopReason.MAX_TOKENS, Generation.StopReason.END_OF_GENERATION);
            if (r.stopReason() == Generation.StopReason.MAX_TOKENS) {
                assertThat(r.tokens()).hasSize(12);
            }
            assertThat(r.text()).isEqualTo(model.tokenizer().decode(r.tokens(), false));
        }
    }

    @Test
    void aStopStringEndsTheTextBeforeIt() {
        int[] prompt = model.tokenizer().encode("Once upon a time", true, true);
        try (Session session = model.newSession(256, 512)) {
            String full = session.generate(prompt, greedy(16, List.of()), s -> { }, () -> false).text();
            String stop = full.substring(full.length() / 2, full.length() / 2 + 2);
            session.reset();
            Generation.Result r = session.generate(prompt, greedy(16, List.of(stop)), s -> { }, () -> false);
            assertThat(r.stopReason()).isEqualTo(Generation.StopReason.STOP_STRING);
            assertThat(r.text()).isEqualTo(full.substring(0, full.indexOf(stop)));
        }
    }

    @Test
    void cancellingStopsBetweenTokens() {
        int[] prompt = model.tokenizer().encode("Count:", true, true);
        AtomicInteger pieces = new AtomicInteger();
        try (Session session = model.newSession(256, 512)) {
            Generation.Result r = session.generate(prompt, greedy(-1, List.of()), s -> pieces.incrementAndGet(),
                    () -> pieces.get() >= 3);
            assertThat(r.stopReason()).isEqualTo(Generation.StopReason.CANCELLED);
            assertThat(r.tokens().length).isLessThan(20);
        }
    }

    @Test
    void generationStopsWhenTheContextIsFull() {
        int[] prompt = model.tokenizer().encode("Fill", true, true);
        try (Session session = model.newSession(24, 512)) {
            Generation.Result r = session.generate(prompt, greedy(-1, List.of()), s -> { }, () -> false);
            assertThat(r.stopReason()).isIn(Generation.StopReason.CONTEXT_FULL, Generation.StopReason.END_OF_GENERATION);
            assertThat(prompt.length + r.tokens().length).isLessThanOrEqualTo(24);
        }
    }

    @Test
    void aPromptLongerThanTheContextIsRefusedClearly() {
        int[] prompt = model.tokenizer().encode("word ".repeat(100), true, true);
        try (Session session = model.newSession(64, 512)) {
            assertThatThrownBy(() -> session.generate(prompt, greedy(4, List.of()), s -> { }, () -> false))
                    .isInstanceOf(ContextOverflowException.class)
                    .hasMessageContaining("needs " + (prompt.length + 1) + " positions but the context holds 64");
        }
    }

    @Test
    void repliesInOneSessionContinueOneRandomStreamThatTheSeedReproduces() {
        int[] prompt = model.tokenizer().encode("Tell me a story", true, true);
        Generation sampled = new Generation(new SamplerSettings(1.5f, 0, 1f, 0f, 1f, 64, 0f, 0f, 42), 12, List.of());
        try (Session session = model.newSession(256, 64); Session again = model.newSession(256, 64)) {
            int[] first = session.generate(prompt, sampled, s -> { }, () -> false).tokens();
            session.reset();
            int[] second = session.generate(prompt, sampled, s -> { }, () -> false).tokens();
            assertThat(second).as("the second reply draws new numbers").isNotEqualTo(first);
            assertThat(again.generate(prompt, sampled, s -> { }, () -> false).tokens()).containsExactly(first);
            again.reset();
            assertThat(again.generate(prompt, sampled, s -> { }, () -> false).tokens()).containsExactly(second);
        }
    }

    @Test
    void aFailedCallLeavesNothingHalfCachedBehind() {
        int[] prompt = model.tokenizer().encode("The whale swims", true, true);
        try (Session session = model.newSession(256, 8)) {
            assertThatThrownBy(() -> session.generate(prompt, greedy(8, List.of()), s -> {
                throw new IllegalStateException("the client went away");
            }, () -> false)).hasMessage("the client went away");
            Generation.Result r = session.generate(prompt, greedy(4, List.of()), s -> { }, () -> false);
            assertThat(r.timings().cachedTokens()).isZero();
            try (Session fresh = model.newSession(256, 8)) {
                assertThat(fresh.generate(prompt, greedy(4, List.of()), s -> { }, () -> false).tokens())
                        .containsExactly(r.tokens());
            }
        }
    }
}
