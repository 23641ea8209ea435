package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ArrayNode;
import tools.jackson.databind.node.ObjectNode;

/**
 * Function calling over HTTP: a request that names a function gets a call of it whose arguments
 * follow its parameter schema, whole and as streamed deltas (the same call, greedy), in the
 * model family's own syntax: R1's with DeepSeek-V3's vocabulary, where the markers are control
 * tokens, and V3.1's with the R1 distill's, where they are text. The call and its result go back
 * into the conversation for the next turn.
 */
class ToolCallTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String WEATHER = """
            {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]},
             "days": {"type": "integer"}}, "required": ["city", "unit"], "additionalProperties": false}
            """;

    @TempDir
    Path dir;

    @Test
    void aNamedFunctionIsCalledWithArgumentsOfItsSchemaInR1Syntax() throws Exception {
        callAndAnswer(TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0)));
    }

    @Test
    void aNamedFunctionIsCalledWithArgumentsOfItsSchemaInV31Syntax() throws Exception {
        callAndAnswer(ServeTestModels.twoModes(dir));
    }

    private void callAndAnswer(Path model) throws Exception {
        Schema validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(WEATHER);
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 2, 1024, 128, 4, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            server.serve(Model.open(model, 2), "tools");
            ObjectNode request = request();
            JsonNode whole = post(server, request);
            JsonNode choice = whole.get("choices").get(0);
            assertThat(choice.get("finish_reason").asString()).isEqualTo("tool_calls");
            assertThat(choice.get("message").get("content").isNull()).as(whole.toString()).isTrue();
            JsonNode call = choice.get("message").get("tool_calls").get(0);
            assertThat(call.get("id").asString()).startsWith("call_");
            assertThat(call.get("type").asString()).isEqualTo("function");
            assertThat(call.get("function").get("name").asString()).isEqualTo("get_weather");
            String arguments = call.get("function").get("arguments").asString();
            assertThat(validator.validate(JSON.readTree(arguments))).as(arguments).isEmpty();

            // Streamed: the first delta of the call has its id, type and name, the rest its arguments.
            List<JsonNode> chunks = stream(server, request.deepCopy().put("stream", true));
            StringBuilder streamedArguments = new StringBuilder();
            String name = null;
            String finish = null;
            for (JsonNode chunk : chunks) {
                JsonNode c = chunk.get("choices").get(0);
                JsonNode calls = c.get("delta").get("tool_calls");
                if (calls != null) {
                    JsonNode delta = calls.get(0);
                    assertThat(delta.get("index").asInt()).isZero();
                    if (name == null) {
                        assertThat(delta.get("id").asString()).startsWith("call_");
                        assertThat(delta.get("function").get("arguments").asString()).isEmpty();
                        name = delta.get("function").get("name").asString();
                    } else {
                        assertThat(delta.has("id")).isFalse();
                    }
                    streamedArguments.append(delta.get("function").get("arguments").asString());
                }
                if (!c.get("finish_reason").isNull()) {
                    finish = c.get("finish_reason").asString();
                }
            }
            assertThat(name).isEqualTo("get_weather");
            assertThat(streamedArguments.toString()).isEqualTo(arguments);
            assertThat(finish).isEqualTo("tool_calls");

            // The call and its result go back; the next turn reads them (a longer prompt) and answers.
            ArrayNode messages = (ArrayNode) request.get("messages");
            messages.addObject().put("role", "assistant").putNull("content").putArray("tool_calls").add(call);
            messages.addObject().put("role", "tool").put("tool_call_id", call.get("id").asString())
                    .put("content", "{\"celsius\": 21}");
            request.put("tool_choice", "auto");
            JsonNode next = post(server, request);
            assertThat(next.get("usage").get("prompt_tokens").asInt())
                    .isGreaterThan(whole.get("usage").get("prompt_tokens").asInt() + 10);
            assertThat(next.get("choices").get(0).get("finish_reason").asString()).isIn("stop", "length", "tool_calls");
        }
    }

    @Test
    void requiredWithSeveralFunctionsCallsOneOfThemWithItsArgumentsInBothSyntaxes() throws Exception {
        String time = """
                {"type": "object", "properties": {"zone": {"enum": ["UTC", "CET"]}, "exact": {"type": "boolean"}},
                 "required": ["zone", "exact"], "additionalProperties": false}
                """;
        var registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
        java.util.Map<String, Schema> validators = java.util.Map.of("get_weather", registry.getSchema(WEATHER),
                "get_time", registry.getSchema(time));
        for (Path model : List.of(TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0)), ServeTestModels.twoModes(dir))) {
            try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 2, 1024, 128, 4, KvCache.Type.F16, null,
                    64L << 20, null, 0))) {
                server.serve(Model.open(model, 2), "tools");
                ObjectNode request = request().put("temperature", 1).put("seed", 5).put("n", 6).put("max_tokens", 160);
                ObjectNode function = ((ArrayNode) request.get("tools")).addObject().put("type", "function")
                        .putObject("function").put("name", "get_time").put("description", "The time in a zone");
                function.set("parameters", JSON.readTree(time));
                request.put("tool_choice", "required");
                JsonNode reply = post(server, request);
                java.util.Map<String, Integer> names = new java.util.TreeMap<>();
                for (JsonNode choice : reply.get("choices")) {
                    // A random model's strings run on: some replies reach max_tokens, their arguments closed in time.
                    assertThat(choice.get("finish_reason").asString()).as(choice.toString()).isIn("tool_calls", "length");
                    JsonNode call = choice.get("message").get("tool_calls").get(0).get("function");
                    String name = call.get("name").asString();
                    assertThat(validators).as(call.toString()).containsKey(name);
                    assertThat(validators.get(name).validate(JSON.readTree(call.get("arguments").asString())))
                            .as(call.toString()).isEmpty();
                    names.merge(name, 1, Integer::sum);
                }
                System.out.printf("%s: calls by name %s%n", model.getFileName(), names);
            }
        }
    }

    @Test
    void badToolRequestsAreRefusedNamingTheField() throws Exception {
        String user = "\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]";
        String tool = "{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}";
        JsonNode unknown = JSON.readTree(RequestErrors.parse("{" + user + ", \"tools\": [" + tool + "],"
                + " \"tool_choice\": {\"type\": \"function\", \"function\": {\"name\": \"g\"}}}"));
        assertThat(unknown.get("error").get("message").asString()).contains("g, which is not among the tools");
        JsonNode badName = JSON.readTree(RequestErrors.parse("{" + user + ", \"tools\": [{\"type\": \"function\","
                + " \"function\": {\"name\": \"no spaces\"}}]}"));
        assertThat(badName.get("error").get("param").asString()).isEqualTo("tools[0].function.name");
        JsonNode noTools = JSON.readTree(RequestErrors.parse("{" + user + ", \"tool_choice\": \"required\"}"));
        assertThat(noTools.get("error").get("message").asString()).contains("needs tools");
        JsonNode unenforceable = JSON.readTree(RequestErrors.parse("{" + user + ", \"tools\": [{\"type\": \"function\","
                + " \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", \"properties\":"
                + " {\"n\": {\"type\": \"integer\", \"minimum\": 3}}}}}], \"tool_choice\": \"required\"}"));
        assertThat(unenforceable.get("error").get("message").asString()).contains("'minimum'");
    }

    private static ObjectNode request() {
        ObjectNode request = JSON.createObjectNode().put("temperature", 0).put("max_tokens", 96);
        request.putArray("messages").addObject().put("role", "user").put("content", "What is the weather in Paris?");
        ObjectNode function = request.putArray("tools").addObject().put("type", "function").putObject("function")
                .put("name", "get_weather").put("description", "The weather in a city");
        function.set("parameters", JSON.readTree(WEATHER));
        request.putObject("tool_choice").put("type", "function").putObject("function").put("name", "get_weather");
        return request;
    }

    private static JsonNode post(Server server, JsonNode body) throws Exception {
        HttpResponse<String> response = send(server, body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        return JSON.readTree(response.body());
    }

    private static List<JsonNode> stream(Server server, JsonNode body) throws Exception {
        HttpResponse<String> response = send(server, body);
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        List<JsonNode> chunks = new ArrayList<>();
        for (String line : response.body().split("\n")) {
            if (line.startsWith("data: ") && !line.equals("data: [DONE]")) {
                chunks.add(JSON.readTree(line.substring(6)));
            }
        }
        return chunks;
    }

    private static HttpResponse<String> send(Server server, JsonNode body) throws Exception {
        return HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body))).build(),
                HttpResponse.BodyHandlers.ofString());
    }
}
