package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * {@code response_format} {@code json_object} and {@code json_schema}: the answer is a JSON object
 * (of the schema) by construction. A model with random weights, sampled at temperature 1 with 100
 * seeds and a small token limit, answers an object that parses (and that an independent validator
 * accepts) every time: the mask offers only tokens that keep the document valid, and closes it
 * when the limit comes near.
 */
class JsonModeTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path dir;

    @Test
    void aHundredSampledAnswersAllParse() throws Exception {
        // DeepSeek-V3.1's template with thinking off: the answer starts at once.
        Path model = ServeTestModels.twoModes(dir);
        HttpClient http = HttpClient.newHttpClient();
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 4, 512, 128, 200, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            server.serve(Model.open(model, 2), "json");
            URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions");
            List<Future<JsonNode>> replies = new ArrayList<>();
            try (ExecutorService clients = Executors.newFixedThreadPool(8)) {
                for (int seed = 0; seed < 100; seed++) {
                    String body = JSON.writeValueAsString(JSON.createObjectNode()
                            .put("temperature", 1.0).put("seed", seed).put("max_tokens", 8 + seed % 24)
                            .set("thinking", JSON.createObjectNode().put("type", "disabled"))
                            .set("response_format", JSON.createObjectNode().put("type", "json_object"))
                            .set("messages", JSON.createArrayNode().add(JSON.createObjectNode().put("role", "user")
                                    .put("content", "Describe item " + seed + " as a JSON object."))));
                    replies.add(clients.submit(() -> JSON.readTree(http.send(HttpRequest.newBuilder(uri)
                            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).body())));
                }
            }
            int members = 0;
            for (int seed = 0; seed < 100; seed++) {
                JsonNode reply = replies.get(seed).get();
                String content = reply.get("choices").get(0).get("message").get("content").asString();
                JsonNode parsed = JSON.readTree(content); // throws if the answer is not JSON
                assertThat(parsed.isObject()).as(content).isTrue(); // json_object: an object, as OpenAI promises
                members += parsed.size();
                assertThat(reply.get("usage").get("completion_tokens").asInt()).isLessThanOrEqualTo(8 + seed % 24);
            }
            System.out.printf("JSON mode: 100 of 100 sampled answers are JSON objects (%d members in all)%n", members);
        }
    }

    /** A schema with what structured output promises: required and optional properties, enum, integer, nullable, bounded array. */
    private static final String WEATHER = """
            {"type": "object", "additionalProperties": false,
             "properties": {"city": {"type": "string"}, "celsius": {"type": "integer"},
               "sky": {"enum": ["clear", "cloudy", "rain"]}, "wind": {"type": ["number", "null"]},
               "hours": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 4}},
             "required": ["city", "celsius", "sky", "hours"]}
            """;

    @Test
    void aHundredAnswersInSchemaModeAllValidate() throws Exception {
        Path model = ServeTestModels.twoModes(dir);
        HttpClient http = HttpClient.newHttpClient();
        Schema validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(WEATHER);
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 4, 512, 128, 200, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            server.serve(Model.open(model, 2), "json");
            URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions");
            List<Future<JsonNode>> replies = new ArrayList<>();
            try (ExecutorService clients = Executors.newFixedThreadPool(8)) {
                for (int seed = 0; seed < 100; seed++) {
                    ObjectNode format = JSON.createObjectNode().put("type", "json_schema");
                    format.putObject("json_schema").put("name", "weather").put("strict", true)
                            .set("schema", JSON.readTree(WEATHER));
                    String body = JSON.writeValueAsString(JSON.createObjectNode()
                            .put("temperature", 1.0).put("seed", seed).put("max_tokens", 60 + seed % 40)
                            .set("thinking", JSON.createObjectNode().put("type", "disabled"))
                            .set("response_format", format)
                            .set("messages", JSON.createArrayNode().add(JSON.createObjectNode().put("role", "user")
                                    .put("content", "The weather in city " + seed + "?"))));
                    replies.add(clients.submit(() -> JSON.readTree(http.send(HttpRequest.newBuilder(uri)
                            .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString()).body())));
                }
            }
            for (int seed = 0; seed < 100; seed++) {
                String content = replies.get(seed).get().get("choices").get(0).get("message").get("content").asString();
                assertThat(validator.validate(JSON.readTree(content))).as(content).isEmpty();
            }
            System.out.println("JSON-schema mode: 100 of 100 sampled answers validate, e.g. "
                    + replies.get(0).get().get("choices").get(0).get("message").get("content").asString());
        }
    }

    @Test
    void aSchemaThatCannotBeEnforcedIsRefusedNamingTheKeyword() throws Exception {
        JsonNode error = JSON.readTree(RequestErrors.parse("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
                + " \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\","
                + " \"schema\": {\"type\": \"string\", \"pattern\": \"^a+$\"}}}}"));
        assertThat(error.get("error").get("param").asString()).isEqualTo("response_format.json_schema.schema");
        assertThat(error.get("error").get("message").asString()).contains("'pattern'");
    }
}
