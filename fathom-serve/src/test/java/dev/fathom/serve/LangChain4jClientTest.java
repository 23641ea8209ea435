package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.openai.OpenAiChatModel;
import dev.langchain4j.model.openai.OpenAiStreamingChatModel;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;

/** LangChain4j's OpenAI client, as a Java application would point it at Fathom: chat, streaming, JSON mode, reasoning. */
class LangChain4jClientTest {
    @TempDir
    Path dir;

    @Test
    void chatsStreamsAnswersJsonAndReturnsTheReasoning() throws Exception {
        Path model = ServeTestModels.twoModes(dir);
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 2, 1024, 128, 8, KvCache.Type.F16, "lc4j", 64L << 20, null, 0))) {
            server.serve(Model.open(model, 2), "deepseek-chat");
            String base = "http://127.0.0.1:" + server.port() + "/v1";
            Map<String, Object> direct = Map.of("thinking", Map.of("type", "disabled"));
            OpenAiChatModel chat = OpenAiChatModel.builder().baseUrl(base).apiKey("lc4j").modelName("deepseek-chat")
                    .temperature(0.0).maxTokens(16).customParameters(direct).build();
            ChatResponse whole = chat.chat(UserMessage.from("Say hello."));
            assertThat(whole.aiMessage().text()).isNotEmpty();
            assertThat(whole.tokenUsage().outputTokenCount()).isBetween(1, 16);
            assertThat(whole.tokenUsage().totalTokenCount())
                    .isEqualTo(whole.tokenUsage().inputTokenCount() + whole.tokenUsage().outputTokenCount());

            OpenAiStreamingChatModel streaming = OpenAiStreamingChatModel.builder().baseUrl(base).apiKey("lc4j")
                    .modelName("deepseek-chat").temperature(0.0).maxTokens(16).customParameters(direct).build();
            StringBuilder partial = new StringBuilder();
            CompletableFuture<ChatResponse> done = new CompletableFuture<>();
            streaming.chat("Say hello.", new StreamingChatResponseHandler() {
                @Override
                public void onPartialResponse(String text) {
                    partial.append(text);
                }

                @Override
                public void onCompleteResponse(ChatResponse response) {
                    done.complete(response);
                }

                @Override
                public void onError(Throwable error) {
                    done.completeExceptionally(error);
                }
            });
            ChatResponse streamed = done.get(60, TimeUnit.SECONDS);
            assertThat(partial.toString()).isEqualTo(whole.aiMessage().text()); // greedy: the same answer
            assertThat(streamed.aiMessage().text()).isEqualTo(whole.aiMessage().text());

            OpenAiChatModel json = OpenAiChatModel.builder().baseUrl(base).apiKey("lc4j").modelName("deepseek-chat")
                    .temperature(1.0).maxTokens(24).responseFormat("json_object").customParameters(direct).build();
            String answer = json.chat(UserMessage.from("Answer in JSON.")).aiMessage().text();
            JsonMapper.builder().build().readTree(answer); // parses

            OpenAiChatModel thinking = OpenAiChatModel.builder().baseUrl(base).apiKey("lc4j").modelName("deepseek-reasoner")
                    .temperature(0.0).maxTokens(8).returnThinking(true).build();
            assertThat(thinking.chat(UserMessage.from("Think first.")).aiMessage().thinking()).isNotEmpty();
        }
    }
}
