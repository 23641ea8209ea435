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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code response_format: json_object}: the answer is a JSON object by construction. A model with
 * random weights, sampled at temperature 1 with 100 seeds and a small token limit, answers an
 * object that parses every time: the mask offers only tokens that keep the document valid, and closes
 * it when the limit comes near.
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
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 4, 512, 128, 200, KvCache.Type.F16, null, 64L << 20))) {
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

    @Test
    void aSchemaIsRefusedWithAMessageSayingWhatIsSupported() throws Exception {
        JsonNode error = JSON.readTree(RequestErrors.parse("{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
                + " \"response_format\": {\"type\": \"json_schema\", \"json_schema\": {\"name\": \"x\", \"schema\": {}}}}"));
        assertThat(error.get("error").get("message").asString()).contains("json_object is");
    }
}
