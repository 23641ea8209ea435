package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.testing.LlamaCpp;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * OpenAI's official Node SDK (npm {@code openai}) works against the server unchanged: models,
 * whole and streamed chats, a function call round trip (its stream rebuilt by the SDK's own
 * helper), usage, errors.
 */
class OpenAiClientTest {
    @Test
    void theOfficialSdkListsModelsChatsStreamsAndReadsErrors() throws Exception {
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 2, 1024, 256, 8, KvCache.Type.F16, "sdk-key", 64L << 20, null, 0))) {
            server.serve(Model.open(ServeTestModels.reasoning(), 2), "fathom-test");
            Process node = new ProcessBuilder("node", LlamaCpp.referenceDir().resolve("openai-client.mjs").toString(),
                    "http://127.0.0.1:" + server.port() + "/v1", "sdk-key")
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(node.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(node.exitValue()).as(out).isZero();
            JsonNode result = JsonMapper.builder().build().readTree(out);
            assertThat(result.get("models").get(0).asString()).isEqualTo("fathom-test");
            JsonNode whole = result.get("whole");
            JsonNode streamed = result.get("streamed");
            assertThat(whole.get("usage").get("completion_tokens").asInt()).isBetween(1, 16);
            // Greedy: the stream is the same reply as the whole one.
            assertThat(streamed.get("reasoning").asString()).isEqualTo(whole.get("reasoning").asString());
            assertThat(streamed.get("content").asString()).isEqualTo(whole.get("content").asString());
            assertThat(streamed.get("finish").asString()).isEqualTo(whole.get("finish").asString());
            assertThat(streamed.get("usage").get("completion_tokens").asInt())
                    .isEqualTo(whole.get("usage").get("completion_tokens").asInt());
            assertThat(streamed.get("usage").get("prompt_cache_hit_tokens").asInt()).isPositive();
            JsonNode call = result.get("call");
            assertThat(call.get("finish").asString()).isEqualTo("tool_calls");
            assertThat(call.get("name").asString()).isEqualTo("get_weather");
            assertThat(call.get("arguments").get("unit").asString()).isIn("celsius", "fahrenheit");
            assertThat(call.get("arguments").get("city").isString()).isTrue();
            assertThat(call.get("streamedName").asString()).isEqualTo("get_weather");
            assertThat(call.get("streamedArguments")).isEqualTo(call.get("arguments")); // greedy: the same call
            assertThat(call.get("answerPromptTokens").asInt()).isGreaterThan(call.get("promptTokens").asInt());
            assertThat(result.get("error").get("status").asInt()).isEqualTo(400);
            assertThat(result.get("error").get("message").asString()).contains("messages must not be empty");
        }
    }
}
