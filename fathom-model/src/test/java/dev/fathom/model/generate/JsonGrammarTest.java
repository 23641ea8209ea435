package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.tensor.GgmlType;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** JSON mode's grammar, byte by byte, and its token mask over a real vocabulary with random logits. */
class JsonGrammarTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private static boolean feed(JsonGrammar g, String text) {
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        return g.accept(b, 0, b.length);
    }

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
    void theLeadReadDecidesTheSchemaOfTheDocumentAfterIt() {
        JsonSchema weather = JsonSchema.compile("""
                {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                 "additionalProperties": false}""");
        JsonSchema zone = JsonSchema.compile("{\"enum\": [\"UTC\"]}");
        Map<String, JsonSchema> leads = new LinkedHashMap<>();
        leads.put("get_weather<｜tool▁sep｜>", weather); // 29 bytes, then {"city":""} at the least
        leads.put("get_time<｜tool▁sep｜>", zone); // 26 bytes, then "UTC"
        JsonGrammar g = JsonGrammar.led(leads);
        assertThat(g.inLead()).isTrue();
        assertThat(g.complete()).isFalse();
        assertThat(g.bytesToComplete()).isEqualTo(26 + 5);
        assertThat(feed(g, "get_w")).isTrue();
        assertThat(g.bytesToComplete()).isEqualTo(29 + 11 - 5);
        JsonGrammar wrong = JsonGrammar.led(leads);
        assertThat(feed(wrong, "get_x")).isFalse();
        JsonGrammar time = JsonGrammar.led(leads);
        assertThat(feed(time, "get_time<｜tool▁sep｜>\"UTC\"")).isTrue();
        assertThat(time.inLead()).isFalse();
        assertThat(time.finished()).isTrue();
        assertThat(feed(g, "eather<｜tool▁sep｜>\"UTC\"")).as("the weather takes an object").isFalse();
        assertThatThrownBy(() -> JsonGrammar.led(Map.of("f", zone, "fg", zone)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("one lead begins another");
    }

    @Test
    void aLeadMaySpellItsSeparatorWithAControlTokenWhichTheMaskOffersThereOnly() throws Exception {
        MaskedSampling sampling = new MaskedSampling(TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0)), 11);
        int separator = sampling.tokenizer.id("<｜tool▁sep｜>");
        assertThat(sampling.tokenizer.type(separator)).isEqualTo(Tokenizer.CONTROL);
        JsonSchema object = JsonSchema.compile("{\"type\": \"object\", \"properties\": {\"n\": {\"type\": \"integer\"}},"
                + " \"required\": [\"n\"], \"additionalProperties\": false}");
        Map<String, JsonSchema> leads = new LinkedHashMap<>();
        leads.put("add<｜tool▁sep｜>", object);
        leads.put("halve<｜tool▁sep｜>", object);
        int spelt = 0;
        for (int seed = 0; seed < 20; seed++) {
            JsonGrammar state = JsonGrammar.led(leads);
            String text = sampling.sample(state, 40, seed, new SplittableRandom(seed));
            String separatorText = "<｜tool▁sep｜>";
            assertThat(text).as(text).containsOnlyOnce(separatorText).matches("(?s)(add|halve)<｜tool▁sep｜>.*");
            JsonNode arguments = JSON.readTree(text.substring(text.indexOf(separatorText) + separatorText.length()));
            assertThat(arguments.get("n").isIntegralNumber()).as(text).isTrue();
            spelt += java.util.Arrays.stream(sampling.lastTokens()).anyMatch(t -> t == separator) ? 1 : 0;
        }
        System.out.printf("the separator as its control token in %d of 20 leads%n", spelt);
        assertThat(spelt).as("leads whose separator is the control token").isPositive();
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
