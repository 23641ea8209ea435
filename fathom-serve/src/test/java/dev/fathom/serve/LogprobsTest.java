package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/** {@code logprobs} and {@code top_logprobs}: for each token of the answer, its log-probability and the likeliest alternatives. */
class LogprobsTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    @TempDir
    Path dir;

    @Test
    void everyAnswerTokenCarriesItsLogprobAndTheLikeliestAlternatives() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 1, 512, 64, 4, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            server.serve(Model.open(ServeTestModels.twoModes(dir), 2), "logprobs");
            URI uri = URI.create("http://127.0.0.1:" + server.port() + "/v1/chat/completions");
            String body = "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"temperature\": 0, \"max_tokens\": 6,"
                    + " \"thinking\": {\"type\": \"disabled\"}, \"logprobs\": true, \"top_logprobs\": 3}";
            JsonNode reply = JSON.readTree(http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(body))
                    .build(), HttpResponse.BodyHandlers.ofString()).body());
            JsonNode choice = reply.get("choices").get(0);
            JsonNode tokens = choice.get("logprobs").get("content");
            assertThat(tokens.size()).isEqualTo(reply.get("usage").get("completion_tokens").asInt());
            StringBuilder text = new StringBuilder();
            for (JsonNode t : tokens) {
                JsonNode top = t.get("top_logprobs");
                assertThat(top).hasSize(3);
                // Greedy: the chosen token is the likeliest one.
                assertThat(top.get(0).get("token").asString()).isEqualTo(t.get("token").asString());
                assertThat(t.get("logprob").asDouble()).isLessThanOrEqualTo(0).isEqualTo(top.get(0).get("logprob").asDouble());
                assertThat(top.get(1).get("logprob").asDouble()).isLessThanOrEqualTo(top.get(0).get("logprob").asDouble());
                assertThat(top.get(2).get("logprob").asDouble()).isLessThanOrEqualTo(top.get(1).get("logprob").asDouble());
                byte[] bytes = new byte[t.get("bytes").size()];
                for (int i = 0; i < bytes.length; i++) {
                    bytes[i] = (byte) t.get("bytes").get(i).asInt();
                }
                text.append(new String(bytes, StandardCharsets.ISO_8859_1));
            }
            String content = choice.get("message").get("content").asString();
            assertThat(new String(text.toString().getBytes(StandardCharsets.ISO_8859_1), StandardCharsets.UTF_8)).isEqualTo(content);

            HttpResponse<String> tooMany = http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(
                    body.replace("\"top_logprobs\": 3", "\"top_logprobs\": 21"))).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(tooMany.statusCode()).isEqualTo(422);
            HttpResponse<String> without = http.send(HttpRequest.newBuilder(uri).POST(HttpRequest.BodyPublishers.ofString(
                    body.replace("\"logprobs\": true, ", ""))).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(without.statusCode()).isEqualTo(400);
        }
    }
}
