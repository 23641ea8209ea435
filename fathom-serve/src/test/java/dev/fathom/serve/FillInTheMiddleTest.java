package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * DeepSeek's fill-in-the-middle completion ({@code /beta/completions} with {@code suffix}) on a
 * model with DeepSeek-V3's vocabulary: the prompt goes to the model as
 * {@code <｜fim▁begin｜>prefix<｜fim▁hole｜>suffix<｜fim▁end｜>}, and the reply is what the model
 * generates after it.
 */
class FillInTheMiddleTest {
    @Test
    void theGapIsFilledFromThePrefixAndTheSuffix() throws Exception {
        Path file = TestModels.get(Spec.deepSeekV3(GgmlType.Q8_0));
        String prefix = "def add(a, b):\n    ";
        String suffix = "\n\nprint(add(1, 2))";
        String expected;
        int promptTokens;
        try (Model model = Model.open(file, 2)) {
            int[] prompt = model.tokenizer().encode("<｜fim▁begin｜>" + prefix + "<｜fim▁hole｜>" + suffix + "<｜fim▁end｜>",
                    true, true);
            assertThat(prompt).contains(model.tokenizer().id("<｜fim▁hole｜>"));
            promptTokens = prompt.length;
            try (Session session = model.newSession(512, 128)) {
                expected = session.generate(prompt, new Generation(SamplerSettings.greedy(), 6, List.of()), s -> { },
                        () -> false).text();
            }
        }
        JsonMapper json = JsonMapper.builder().build();
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 1, 512, 128, 4, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            server.serve(Model.open(file, 2), "deepseek-coder");
            String body = json.writeValueAsString(json.createObjectNode().put("prompt", prefix).put("suffix", suffix)
                    .put("max_tokens", 6).put("temperature", 0));
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://127.0.0.1:" + server.port() + "/beta/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            JsonNode reply = json.readTree(r.body());
            assertThat(reply.get("choices").get(0).get("text").asString()).isEqualTo(expected);
            assertThat(reply.get("usage").get("prompt_tokens").asInt()).isEqualTo(promptTokens);
        }
    }
}
