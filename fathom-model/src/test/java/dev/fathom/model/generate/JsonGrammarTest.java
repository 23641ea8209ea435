package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.json.JsonMapper;

/** JSON mode's grammar, byte by byte, and its token mask over a real vocabulary with random logits. */
class JsonGrammarTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static boolean accepts(String text) {
        JsonGrammar g = new JsonGrammar();
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return g.accept(b, 0, b.length) && g.complete();
    }

    @ParameterizedTest
    @ValueSource(strings = {"{}", "[]", "0", "-0.5e+10", "12", "true", "null", "\"a\\u00e9\\n\\\"\"", " { \"a\" : [1, 2.5, {\"b\": null}] } ",
        "{\"深度\": \"求索 ✓\"}", "[[[]]]", "[true,false,null]", "1E3", "\"\""})
    void validDocumentsAreAcceptedAndComplete(String text) {
        assertThat(accepts(text)).as(text).isTrue();
        JSON.readTree(text); // and they are JSON indeed
    }

    @ParameterizedTest
    @ValueSource(strings = {"{", "[1,]", "{\"a\"}", "{\"a\":}", "{a:1}", "01", "-", "1.", "1e", "tru", "nul",
        "\"unterminated", "[1 2]", "{}}", "{} {}", "\"tab\there\"", "\"\\x\"", "\"\\u12G4\"", "+1", "[}", "{,}", ".5"})
    void invalidOrUnfinishedDocumentsAreNot(String text) {
        assertThat(accepts(text)).as(text).isFalse();
    }

    @Test
    void anObjectGrammarTakesOnlyAnObject() {
        for (String text : new String[] {"{}", " {\"a\": [1]}"}) {
            JsonGrammar g = JsonGrammar.object();
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            assertThat(g.accept(b, 0, b.length) && g.complete()).as(text).isTrue();
        }
        for (String text : new String[] {"[]", "1", "\"s\"", "null"}) {
            JsonGrammar g = JsonGrammar.object();
            byte[] b = text.getBytes(StandardCharsets.UTF_8);
            assertThat(g.accept(b, 0, b.length)).as(text).isFalse();
        }
        assertThat(JsonGrammar.object().bytesToComplete()).isEqualTo(2);
    }

    @Test
    void bytesToCompleteNeverExceedsWhatAShortestCompletionTakes() {
        // After each prefix of a document, appending the completion the count implies gives JSON.
        String[] documents = {"{\"key\": [1, -2.5e3, \"s\\u00e9\", {\"x\": true}], \"k2\": null}", "[[\"a\", {\"b\": [0]}]]"};
        for (String doc : documents) {
            byte[] b = doc.getBytes(StandardCharsets.UTF_8);
            for (int n = 0; n <= b.length; n++) {
                JsonGrammar g = new JsonGrammar();
                assertThat(g.accept(b, 0, n)).isTrue();
                String prefix = new String(b, 0, n, StandardCharsets.UTF_8);
                String completed = prefix + shortestCompletion(g);
                assertThat(accepts(completed)).as("%s + completion", prefix).isTrue();
                assertThat(completed.length() - prefix.length()).as(prefix).isEqualTo(g.bytesToComplete());
            }
        }
    }

    /** Greedily appends the byte that lowers bytesToComplete, the way the closing mask does. */
    private static String shortestCompletion(JsonGrammar state) {
        StringBuilder out = new StringBuilder();
        JsonGrammar g = new JsonGrammar();
        g.copyFrom(state);
        while (!(g.complete() && g.bytesToComplete() == 0)) {
            boolean moved = false;
            for (char c : "0\"}]:nuetrlafs\\{".toCharArray()) {
                JsonGrammar next = new JsonGrammar();
                next.copyFrom(g);
                if (next.accept((byte) c) && next.bytesToComplete() < g.bytesToComplete()) {
                    g = next;
                    out.append(c);
                    moved = true;
                    break;
                }
            }
            assertThat(moved).as("a byte that brings %s closer to its end", out).isTrue();
        }
        return out.toString();
    }

    @Test
    void sampledUnderTheMaskEveryReplyParsesEvenWhenItsTokensRunOut() throws Exception {
        MaskedSampling sampling = new MaskedSampling(42);
        int parsed = 0;
        for (int seed = 0; seed < 100; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            int budget = 2 + random.nextInt(40);
            JsonGrammar state = seed % 2 == 0 ? new JsonGrammar() : JsonGrammar.object();
            String text = sampling.sample(state, budget, seed, random);
            JSON.readTree(text); // throws if it does not parse
            assertThat(state.complete()).as(text).isTrue();
            parsed++;
        }
        assertThat(parsed).isEqualTo(100);
        System.out.println("JSON " + sampling.timing());
    }
}
