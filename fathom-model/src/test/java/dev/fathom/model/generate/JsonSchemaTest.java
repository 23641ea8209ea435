package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * JSON-schema mode: the recognizer takes exactly the instances of a schema that are written in
 * its property order, counts exactly the bytes that complete a prefix, and under its mask
 * random sampling always yields a document that an independent validator (networknt) accepts.
 */
class JsonSchemaTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** A person: required, optional and nullable properties, an enum, integers, a bounded array, a recursive $ref. */
    static final String PERSON = """
            {"type": "object", "additionalProperties": false,
             "properties": {
               "name": {"type": "string", "description": "full name"},
               "age": {"type": "integer"},
               "nickname": {"type": ["string", "null"]},
               "role": {"enum": ["admin", "user", "a \\"guest\\""]},
               "scores": {"type": "array", "items": {"type": "number"}, "minItems": 1, "maxItems": 3},
               "manager": {"anyOf": [{"$ref": "#/$defs/ref"}, {"type": "null"}]},
               "active": {"type": "boolean"}
             },
             "required": ["name", "age", "role", "scores"],
             "$defs": {"ref": {"type": "object", "properties": {"name": {"const": "boss"}, "reports": {"type": "array", "items": {"$ref": "#"}, "maxItems": 1}}, "required": ["name"]}}}
            """;

    @Test
    void takesTheSchemasInstancesInItsPropertyOrder() {
        JsonSchema person = JsonSchema.compile(PERSON);
        for (String valid : List.of(
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"admin\",\"scores\":[1.5]}",
                "{ \"name\" : \"Ada\", \"age\": -3, \"nickname\": null, \"role\": \"a \\\"guest\\\"\", \"scores\": [1, 2e3, 3],"
                        + " \"manager\": {\"name\": \"boss\", \"reports\": [{\"name\":\"x\",\"age\":1,\"role\":\"user\",\"scores\":[0]}]},"
                        + " \"active\": false }",
                "{\"name\":\"\",\"age\":0,\"nickname\":\"Countess\",\"role\":\"user\",\"scores\":[0],\"manager\":null}")) {
            assertThat(accepts(person, valid)).as(valid).isTrue();
        }
        for (String invalid : List.of(
                "{\"age\":36,\"name\":\"Ada\",\"role\":\"admin\",\"scores\":[1]}", // out of order
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"admin\"}", // a required property missing
                "{\"name\":\"Ada\",\"age\":36.5,\"role\":\"admin\",\"scores\":[1]}", // not an integer
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"root\",\"scores\":[1]}", // not in the enum
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"admins\",\"scores\":[1]}", // an enum value's prefix
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"user\",\"scores\":[]}", // too few items
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"user\",\"scores\":[1,2,3,4]}", // too many
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"user\",\"scores\":[1],\"extra\":1}", // not a property
                "{\"name\":\"Ada\",\"age\":36,\"role\":\"user\",\"scores\":[1],\"manager\":{\"name\":\"bo\"}}", // const
                "[1]")) {
            assertThat(accepts(person, invalid)).as(invalid).isFalse();
        }
    }

    @Test
    void bytesToCompleteIsTheShortestCompletionAfterEveryPrefix() {
        JsonSchema person = JsonSchema.compile(PERSON);
        String doc = "{\"name\":\"A\\u00e9\",\"age\":-12,\"nickname\":null,\"role\":\"a \\\"guest\\\"\","
                + "\"scores\":[1.5e-3,2],\"manager\":{\"name\":\"boss\",\"reports\":[{\"name\":\"x\",\"age\":1,"
                + "\"role\":\"user\",\"scores\":[0]}]},\"active\":true}";
        byte[] b = doc.getBytes(StandardCharsets.UTF_8);
        for (int n = 0; n <= b.length; n++) {
            JsonGrammar g = JsonGrammar.of(person);
            assertThat(g.accept(b, 0, n)).as(doc.substring(0, n)).isTrue();
            String completion = shortestCompletion(g);
            String completed = doc.substring(0, n) + completion;
            assertThat(accepts(person, completed)).as(completed).isTrue();
            assertThat(valid(PERSON, completed)).as(completed).isTrue();
            assertThat(completion.length()).as(doc.substring(0, n)).isEqualTo(g.bytesToComplete());
        }
    }

    @Test
    void schemasItCannotEnforceAreRefusedWithTheirPlace() {
        assertThatThrownBy(() -> JsonSchema.compile("{\"type\":\"string\",\"pattern\":\"^a$\"}"))
                .hasMessageContaining("'pattern'").hasMessageContaining("#");
        assertThatThrownBy(() -> JsonSchema.compile("{\"properties\":{\"a\":{\"type\":\"integer\",\"minimum\":1}}}"))
                .hasMessageContaining("'minimum'").hasMessageContaining("#/properties/a");
        assertThatThrownBy(() -> JsonSchema.compile("{\"$ref\":\"#/$defs/none\"}")).hasMessageContaining("points at nothing");
        assertThatThrownBy(() -> JsonSchema.compile("{\"type\":\"object\",\"properties\":{\"a\":{}},\"required\":[\"b\"]}"))
                .hasMessageContaining("'b'");
        assertThatThrownBy(() -> JsonSchema.compile("{\"type\":\"object\",\"properties\":{\"self\":{\"$ref\":\"#\"}},"
                + "\"required\":[\"self\"]}")).hasMessageContaining("no finite document");
        assertThatThrownBy(() -> JsonSchema.compile("{\"type\":\"date\"}")).hasMessageContaining("type");
    }

    @Test
    void sampledUnderTheMaskEveryDocumentValidates() throws Exception {
        MaskedSampling sampling = new MaskedSampling(7);
        JsonSchema person = JsonSchema.compile(PERSON);
        Schema validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(PERSON);
        int validated = 0;
        for (int seed = 0; seed < 100; seed++) {
            SplittableRandom random = new SplittableRandom(seed);
            int budget = person.minBytes + random.nextInt(120);
            String text = sampling.sample(JsonGrammar.of(person), budget, seed, random);
            JsonNode document = JSON.readTree(text);
            assertThat(validator.validate(document)).as(text).isEmpty();
            validated++;
        }
        assertThat(validated).isEqualTo(100);
        System.out.println("JSON-schema " + sampling.timing());
    }

    private static boolean accepts(JsonSchema schema, String doc) {
        JsonGrammar g = JsonGrammar.of(schema);
        byte[] b = doc.getBytes(StandardCharsets.UTF_8);
        return g.accept(b, 0, b.length) && g.complete();
    }

    private static boolean valid(String schema, String doc) {
        Schema validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(schema);
        return validator.validate(JSON.readTree(doc)).isEmpty();
    }

    /** Greedily appends the printable byte that lowers bytesToComplete, the way the closing mask does. */
    private static String shortestCompletion(JsonGrammar state) {
        StringBuilder out = new StringBuilder();
        JsonGrammar g = new JsonGrammar();
        g.copyFrom(state);
        while (!(g.complete() && g.bytesToComplete() == 0)) {
            JsonGrammar moved = null;
            for (int c = 0x20; c < 0x7f && moved == null; c++) {
                JsonGrammar next = new JsonGrammar();
                next.copyFrom(g);
                if (next.accept((byte) c) && next.bytesToComplete() == g.bytesToComplete() - 1) {
                    moved = next;
                    out.append((char) c);
                }
            }
            assertThat(moved).as("a byte that brings %s closer to its end", out).isNotNull();
            g = moved;
        }
        return out.toString();
    }
}
