package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ReasoningParser;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.Session;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The API as clients see it, on a real server on loopback: the replies are the model's own
 * (what a {@link Session} generates for the same conversation), streamed or whole, several at
 * once, with cache hits counted; bad requests get their status and error body.
 */
class ServerTest {
    private static final Path MODEL = ServeTestModels.reasoning();
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final HttpClient HTTP = HttpClient.newHttpClient();
    private static final int MAX_TOKENS = 24;

    private static Server server;
    private static Model reference;

    @BeforeAll
    static void start() {
        server = Server.start(new Server.Options("127.0.0.1", 0, 4, 1024, 256, 16, KvCache.Type.F16, null, 64L << 20, null, 0));
        server.serve(Model.open(MODEL, 2), "test-model");
        reference = Model.open(MODEL, 2);
    }

    @AfterAll
    static void stop() {
        server.close();
        reference.close();
    }

    private static URI uri(Server s, String path) {
        return URI.create("http://127.0.0.1:" + s.port() + path);
    }

    private static HttpResponse<String> post(Server s, String path, String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(uri(s, path)).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String chatBody(String user, boolean stream) {
        return JSON.writeValueAsString(JSON.createObjectNode()
                .put("model", "deepseek-reasoner")
                .put("temperature", 0)
                .put("max_tokens", MAX_TOKENS)
                .put("stream", stream)
                .set("messages", JSON.createArrayNode().add(JSON.createObjectNode().put("role", "user").put("content", user))));
    }

    /** What the model says to {@code user} alone, greedy, split as the API splits it: reasoning, then content. */
    private static String[] expected(String user) {
        ChatTemplate template = reference.chatTemplate();
        int[] prompt = reference.chatTokens(template.render(List.of(ChatMessage.user(user)), true));
        String text;
        try (Session session = reference.newSession(1024, 256)) {
            text = session.generate(prompt, new Generation(SamplerSettings.greedy(), MAX_TOKENS, List.of()), s -> { },
                    () -> false).text();
        }
        ReasoningParser.Collector parts = new ReasoningParser.Collector();
        ReasoningParser parser = new ReasoningParser(template.opensThinking(), parts);
        parser.push(text);
        parser.finish();
        return new String[] {parts.reasoning(), parts.content()};
    }

    /** The events of a streamed reply, [DONE] last. */
    private static List<String> events(InputStream body) throws Exception {
        List<String> events = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8))) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                if (line.startsWith("data: ")) {
                    events.add(line.substring(6));
                }
            }
        }
        return events;
    }

    /** Reasoning and content of a streamed reply, from its deltas. */
    private static String[] streamed(List<String> events) {
        StringBuilder reasoning = new StringBuilder();
        StringBuilder content = new StringBuilder();
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode choices = JSON.readTree(e).get("choices");
            if (!choices.isEmpty()) {
                JsonNode delta = choices.get(0).get("delta");
                reasoning.append(delta.path("reasoning_content").asString(""));
                content.append(delta.path("content").asString(""));
            }
        }
        return new String[] {reasoning.toString(), content.toString()};
    }

    @Test
    void anAssistantPrefixIsContinuedAsThoughTheModelHadWrittenIt() throws Exception {
        // DeepSeek's chat prefix completion: the reply goes on from the last assistant message's
        // text (R1's reasoning closed first), and holds only what follows it.
        String prefix = "The answer is";
        ObjectNode body = JSON.createObjectNode().put("temperature", 0).put("max_tokens", 12);
        body.putArray("messages").add(JSON.createObjectNode().put("role", "user").put("content", "What is 2 + 2?"))
                .add(JSON.createObjectNode().put("role", "assistant").put("content", prefix).put("prefix", true));
        HttpResponse<String> response = post(server, "/v1/chat/completions", JSON.writeValueAsString(body));
        assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
        JsonNode message = JSON.readTree(response.body()).get("choices").get(0).get("message");

        ChatTemplate template = reference.chatTemplate();
        int[] prompt = reference.chatTokens(template.render(List.of(ChatMessage.user("What is 2 + 2?")), true)
                + template.closeThinking() + prefix);
        String expected;
        try (Session session = reference.newSession(1024, 256)) {
            expected = session.generate(prompt, new Generation(SamplerSettings.greedy(), 12, List.of()), s -> { },
                    () -> false).text();
        }
        assertThat(message.get("content").asString()).isEqualTo(expected);
        assertThat(message.get("reasoning_content").asString("")).isEmpty();
    }

    @Test
    void healthAndTheModelList() throws Exception {
        HttpResponse<String> health = HTTP.send(HttpRequest.newBuilder(uri(server, "/health")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(health.statusCode()).isEqualTo(200);
        assertThat(JSON.readTree(health.body()).get("status").asString()).isEqualTo("ok");
        for (String path : List.of("/v1/models", "/models")) {
            JsonNode models = JSON.readTree(HTTP.send(HttpRequest.newBuilder(uri(server, path)).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            assertThat(models.get("object").asString()).isEqualTo("list");
            assertThat(models.get("data").get(0).get("id").asString()).isEqualTo("test-model");
        }
    }

    @Test
    void metricsCountTokensInPrometheusFormat() throws Exception {
        post(server, "/v1/chat/completions", chatBody("Count me.", false));
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(uri(server, "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/plain"));
        java.util.Map<String, Double> values = new java.util.HashMap<>();
        for (String line : r.body().lines().toList()) {
            if (!line.startsWith("#")) {
                String[] parts = line.split(" ");
                values.put(parts[0], Double.parseDouble(parts[1]));
            }
        }
        assertThat(values.get("fathom_requests_total")).isGreaterThanOrEqualTo(1);
        assertThat(values.get("fathom_tokens_predicted_total")).isGreaterThanOrEqualTo(1);
        assertThat(values.get("fathom_prompt_tokens_total")).isGreaterThan(values.get("fathom_prompt_cache_hit_tokens_total"));
        assertThat(values.get("fathom_slots")).isEqualTo(4);
        assertThat(values.get("fathom_kv_cache_usage_ratio")).isBetween(0.0, 1.0);
        assertThat(values).containsKeys("fathom_requests_processing", "fathom_requests_deferred",
                "fathom_prompt_seconds_total", "fathom_tokens_predicted_seconds_total");
    }

    @Test
    void aWholeReplyIsTheModelsGreedyReplySplitIntoReasoningAndContent() throws Exception {
        String user = "What is 12 + 30?";
        HttpResponse<String> r = post(server, "/v1/chat/completions", chatBody(user, false));
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode body = JSON.readTree(r.body());
        assertThat(body.get("object").asString()).isEqualTo("chat.completion");
        assertThat(body.get("model").asString()).isEqualTo("deepseek-reasoner");
        JsonNode choice = body.get("choices").get(0);
        String[] expected = expected(user);
        assertThat(choice.get("message").get("reasoning_content").asString()).isEqualTo(expected[0]);
        assertThat(choice.get("message").get("content").asString()).isEqualTo(expected[1]);
        assertThat(choice.get("finish_reason").asString()).isIn("stop", "length");
        JsonNode usage = body.get("usage");
        assertThat(usage.get("completion_tokens").asInt()).isBetween(1, MAX_TOKENS);
        assertThat(usage.get("total_tokens").asInt())
                .isEqualTo(usage.get("prompt_tokens").asInt() + usage.get("completion_tokens").asInt());
        assertThat(usage.get("prompt_cache_hit_tokens").asInt() + usage.get("prompt_cache_miss_tokens").asInt())
                .isEqualTo(usage.get("prompt_tokens").asInt());
        // The path DeepSeek's own SDKs use, without /v1.
        assertThat(post(server, "/chat/completions", chatBody(user, false)).statusCode()).isEqualTo(200);
    }

    @Test
    void streamedDeltasAddUpToTheSameReplyThenUsageThenDone() throws Exception {
        String user = "Name three prime numbers.";
        String body = chatBody(user, true).replace("\"stream\":true", "\"stream\":true,\"stream_options\":{\"include_usage\":true}");
        HttpResponse<InputStream> r = HTTP.send(HttpRequest.newBuilder(uri(server, "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("content-type")).hasValueSatisfying(v -> assertThat(v).startsWith("text/event-stream"));
        List<String> events = events(r.body());
        assertThat(events.getLast()).isEqualTo("[DONE]");
        JsonNode first = JSON.readTree(events.getFirst());
        assertThat(first.get("object").asString()).isEqualTo("chat.completion.chunk");
        assertThat(first.get("choices").get(0).get("delta").get("role").asString()).isEqualTo("assistant");
        String id = first.get("id").asString();
        for (String e : events.subList(0, events.size() - 1)) {
            assertThat(JSON.readTree(e).get("id").asString()).isEqualTo(id);
        }
        JsonNode usage = JSON.readTree(events.get(events.size() - 2));
        assertThat(usage.get("choices")).isEmpty();
        assertThat(usage.get("usage").get("completion_tokens").asInt()).isBetween(1, MAX_TOKENS);
        JsonNode last = JSON.readTree(events.get(events.size() - 3)).get("choices").get(0);
        assertThat(last.get("finish_reason").asString()).isIn("stop", "length");
        assertThat(streamed(events)).containsExactly(expected(user));
    }

    @Test
    void eightConcurrentStreamsEachGetTheirOwnReply() throws Exception {
        List<String> users = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            users.add("Question " + i + ": what follows " + (i * 7 + 3) + "?");
        }
        long start = System.nanoTime();
        List<String[]> replies = new ArrayList<>();
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<List<String>>> futures = new ArrayList<>();
            for (String user : users) {
                futures.add(clients.submit(() -> events(HTTP.send(HttpRequest.newBuilder(uri(server, "/v1/chat/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(chatBody(user, true))).build(),
                        HttpResponse.BodyHandlers.ofInputStream()).body())));
            }
            for (Future<List<String>> f : futures) {
                replies.add(streamed(f.get()));
            }
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("8 concurrent streams on 4 slots: %.2f s, %.0f tokens/s in all%n", seconds, 8 * MAX_TOKENS / seconds);
        for (int i = 0; i < users.size(); i++) {
            assertThat(replies.get(i)).as(users.get(i)).containsExactly(expected(users.get(i)));
        }
    }

    @Test
    void nChoicesEachHaveTheirOwnSeedWholeAndStreamed() throws Exception {
        String body = chatBody("Pick a word.", false).replace("\"temperature\":0", "\"temperature\":1.0,\"seed\":7,\"n\":3");
        JsonNode whole = JSON.readTree(post(server, "/v1/chat/completions", body).body());
        JsonNode choices = whole.get("choices");
        assertThat(choices).hasSize(3);
        for (int i = 0; i < 3; i++) {
            // Choice i is the reply a request of its own with seed 7 + i gets.
            assertThat(choices.get(i).get("index").asInt()).isEqualTo(i);
            String alone = body.replace("\"seed\":7,\"n\":3", "\"seed\":" + (7 + i) + ",\"n\":1");
            JsonNode single = JSON.readTree(post(server, "/v1/chat/completions", alone).body()).get("choices").get(0);
            assertThat(choices.get(i).get("message").get("reasoning_content").asString())
                    .isEqualTo(single.get("message").get("reasoning_content").asString());
        }
        assertThat(whole.get("usage").get("completion_tokens").asInt()).isBetween(3, 3 * MAX_TOKENS);

        // Streamed with the same seed: the same three replies, their deltas marked with their index.
        List<String> events = events(HTTP.send(HttpRequest.newBuilder(uri(server, "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body.replace("\"stream\":false", "\"stream\":true"))).build(),
                HttpResponse.BodyHandlers.ofInputStream()).body());
        StringBuilder[] streamed = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
        int finished = 0;
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode choice = JSON.readTree(e).get("choices").get(0);
            streamed[choice.get("index").asInt()].append(choice.get("delta").path("reasoning_content").asString(""));
            finished += choice.get("finish_reason").isNull() ? 0 : 1;
        }
        assertThat(finished).isEqualTo(3);
        for (int i = 0; i < 3; i++) {
            assertThat(streamed[i].toString()).isEqualTo(choices.get(i).get("message").get("reasoning_content").asString());
        }
    }

    @Test
    void textCompletionsContinueThePromptAsGivenWholeAndStreamed() throws Exception {
        String prompt = "The sea is";
        String expected;
        try (Session session = reference.newSession(1024, 256)) {
            expected = session.generate(reference.tokenizer().encode(prompt, true, true),
                    new Generation(SamplerSettings.greedy(), 8, List.of()), s -> { }, () -> false).text();
        }
        for (String path : List.of("/v1/completions", "/completions")) {
            JsonNode whole = JSON.readTree(post(server, path,
                    "{\"prompt\": \"" + prompt + "\", \"max_tokens\": 8, \"temperature\": 0, \"echo\": true}").body());
            assertThat(whole.get("object").asString()).isEqualTo("text_completion");
            assertThat(whole.get("choices").get(0).get("text").asString()).isEqualTo(prompt + expected);
            assertThat(whole.get("usage").get("completion_tokens").asInt()).isBetween(1, 8);
        }
        List<String> events = events(HTTP.send(HttpRequest.newBuilder(uri(server, "/v1/completions"))
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"" + prompt + "\", \"max_tokens\": 8,"
                        + " \"temperature\": 0, \"stream\": true}")).build(), HttpResponse.BodyHandlers.ofInputStream()).body());
        StringBuilder text = new StringBuilder();
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode chunk = JSON.readTree(e);
            assertThat(chunk.get("object").asString()).isEqualTo("text_completion");
            text.append(chunk.get("choices").get(0).get("text").asString());
        }
        assertThat(text.toString()).isEqualTo(expected);
        // OpenAI's default length for text completions: 16 tokens.
        JsonNode defaulted = JSON.readTree(post(server, "/v1/completions", "{\"prompt\": \"x\", \"temperature\": 0}").body());
        assertThat(defaulted.get("usage").get("completion_tokens").asInt()).isBetween(1, 16);
        // Fill in the middle needs the model's FIM tokens, which the R1 distills lack.
        HttpResponse<String> fim = post(server, "/beta/completions", "{\"prompt\": \"def f(\", \"suffix\": \")\"}");
        assertThat(fim.statusCode()).isEqualTo(422);
        assertThat(JSON.readTree(fim.body()).get("error").get("message").asString()).contains("fill-in-the-middle");
        assertThat(post(server, "/v1/completions", "{\"prompt\": 5}").statusCode()).isEqualTo(400);
    }

    @Test
    void aRepeatedSystemPromptIsReadFromTheCache() throws Exception {
        String system = "You are a careful assistant. ".repeat(20);
        int[] hits = new int[2];
        int[] prompts = new int[2];
        for (int i = 0; i < 2; i++) {
            String body = JSON.writeValueAsString(JSON.createObjectNode().put("temperature", 0).put("max_tokens", 4)
                    .set("messages", JSON.createArrayNode()
                            .add(JSON.createObjectNode().put("role", "system").put("content", system))
                            .add(JSON.createObjectNode().put("role", "user").put("content", "Turn " + i))));
            JsonNode usage = JSON.readTree(post(server, "/v1/chat/completions", body).body()).get("usage");
            hits[i] = usage.get("prompt_cache_hit_tokens").asInt();
            prompts[i] = usage.get("prompt_tokens").asInt();
        }
        int systemTokens = reference.tokenizer().encode(system, false, false).length;
        assertThat(hits[1]).isGreaterThanOrEqualTo(systemTokens).isLessThan(prompts[1]);
    }

    /**
     * With one slot, a conversation's prefix survives another conversation in between: the
     * prefix cache gives back its whole blocks, and the reply is the one a fresh session gives.
     */
    @Test
    void thePrefixCacheOutlivesTheSlotThatComputedIt() throws Exception {
        try (Server one = Server.start(new Server.Options("127.0.0.1", 0, 1, 1024, 128, 4, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            one.serve(Model.open(MODEL, 2), "one-slot");
            String system = "You are a careful assistant who answers briefly. ".repeat(20);
            java.util.function.Function<String, String> body = user -> JSON.writeValueAsString(JSON.createObjectNode()
                    .put("temperature", 0).put("max_tokens", 6)
                    .set("messages", JSON.createArrayNode()
                            .add(JSON.createObjectNode().put("role", "system").put("content", system))
                            .add(JSON.createObjectNode().put("role", "user").put("content", user))));
            post(one, "/v1/chat/completions", body.apply("First question"));
            post(one, "/v1/chat/completions", chatBody("Something else entirely, to take the slot.", false));
            JsonNode third = JSON.readTree(post(one, "/v1/chat/completions", body.apply("Second question")).body());
            int hits = third.get("usage").get("prompt_cache_hit_tokens").asInt();
            int systemTokens = reference.tokenizer().encode(system, false, false).length;
            assertThat(hits).as("whole blocks of the system prompt").isGreaterThanOrEqualTo(systemTokens / 64 * 64).isPositive()
                    .isEqualTo(hits / 64 * 64);

            List<ChatMessage> conversation = List.of(ChatMessage.system(system), ChatMessage.user("Second question"));
            int[] prompt = reference.chatTokens(reference.chatTemplate().render(conversation, true));
            try (Session session = reference.newSession(1024, 256)) {
                String expected = session.generate(prompt, new Generation(SamplerSettings.greedy(), 6, List.of()), s -> { },
                        () -> false).text();
                JsonNode message = third.get("choices").get(0).get("message");
                assertThat(message.get("reasoning_content").asString() + message.get("content").asString())
                        .isEqualTo(expected.replace("<think>", "").replace("</think>", ""));
            }
        }
    }

    /**
     * With memory for one block only, a conversation's blocks leave memory as soon as another
     * conversation is served; with a disk budget they come back from disk, and the reply is the
     * one a fresh session gives. The cache's directory is gone once the server is.
     */
    @Test
    void thePrefixCacheSpillsToDiskAndReadsBlocksBack(@TempDir Path disk) throws Exception {
        long oneBlock;
        try (KvCache cache = reference.network().newCache(KvCache.Type.F16, 1, PrefixCache.BLOCK)) {
            oneBlock = cache.bytesFor(PrefixCache.BLOCK);
        }
        String system = "You are a careful assistant who answers briefly. ".repeat(20);
        java.util.function.Function<String, String> body = user -> JSON.writeValueAsString(JSON.createObjectNode()
                .put("temperature", 0).put("max_tokens", 6)
                .set("messages", JSON.createArrayNode()
                        .add(JSON.createObjectNode().put("role", "system").put("content", system))
                        .add(JSON.createObjectNode().put("role", "user").put("content", user))));
        String other = chatBody("Something else entirely, to take the slot. ".repeat(12), false);
        int systemTokens = reference.tokenizer().encode(system, false, false).length;
        int[] hits = new int[2];
        for (int withDisk = 0; withDisk < 2; withDisk++) {
            try (Server one = Server.start(new Server.Options("127.0.0.1", 0, 1, 1024, 128, 4, KvCache.Type.F16, null,
                    oneBlock, withDisk == 1 ? disk : null, 64L << 20))) {
                one.serve(Model.open(MODEL, 2), "one-slot");
                post(one, "/v1/chat/completions", body.apply("First question"));
                post(one, "/v1/chat/completions", other);
                JsonNode third = JSON.readTree(post(one, "/v1/chat/completions", body.apply("Second question")).body());
                hits[withDisk] = third.get("usage").get("prompt_cache_hit_tokens").asInt();
                if (withDisk == 1) {
                    List<ChatMessage> conversation = List.of(ChatMessage.system(system), ChatMessage.user("Second question"));
                    int[] prompt = reference.chatTokens(reference.chatTemplate().render(conversation, true));
                    try (Session session = reference.newSession(1024, 256)) {
                        String expected = session.generate(prompt, new Generation(SamplerSettings.greedy(), 6, List.of()),
                                s -> { }, () -> false).text();
                        JsonNode message = third.get("choices").get(0).get("message");
                        assertThat(message.get("reasoning_content").asString() + message.get("content").asString())
                                .isEqualTo(expected.replace("<think>", "").replace("</think>", ""));
                    }
                    try (var files = Files.list(disk)) {
                        assertThat(files.toList()).as("the cache's own directory").hasSize(1);
                    }
                }
            }
        }
        assertThat(hits[0]).as("memory alone: the other conversation took the one block").isLessThan(PrefixCache.BLOCK);
        assertThat(hits[1]).as("the system prompt's whole blocks, back from disk")
                .isGreaterThanOrEqualTo(systemTokens / PrefixCache.BLOCK * PrefixCache.BLOCK).isPositive();
        try (var files = Files.list(disk)) {
            assertThat(files.toList()).as("removed with the server").isEmpty();
        }
    }

    @Test
    void badRequestsGetTheirStatusAndAnErrorBody() throws Exception {
        String user = "{\"role\":\"user\",\"content\":\"hi\"}";
        Object[][] cases = {
            {"{not json", 400, null},
            {"[1, 2]", 400, null},
            {"{}", 400, "messages"},
            {"{\"messages\": []}", 400, "messages"},
            {"{\"messages\": [{\"role\": \"wizard\", \"content\": \"hi\"}]}", 400, "messages[0].role"},
            {"{\"messages\": [{\"role\": \"user\", \"content\": 42}]}", 400, "messages[0].content"},
            {"{\"messages\": [" + user + "], \"temperature\": \"hot\"}", 400, "temperature"},
            {"{\"messages\": [" + user + "], \"temperature\": 3}", 422, "temperature"},
            {"{\"messages\": [" + user + "], \"top_p\": -0.5}", 422, "top_p"},
            {"{\"messages\": [" + user + "], \"max_tokens\": 0}", 422, "max_tokens"},
            {"{\"messages\": [" + user + "], \"max_tokens\": 1.5}", 400, "max_tokens"},
            {"{\"messages\": [" + user + "], \"stream\": \"yes\"}", 400, "stream"},
            {"{\"messages\": [" + user + "], \"stop\": [1]}", 400, "stop"},
            {"{\"messages\": [" + user + "], \"n\": 0}", 422, "n"},
            {"{\"messages\": [" + user + "], \"n\": 17}", 422, "n"},
            {"{\"messages\": [" + user + "], \"thinking\": {\"type\": \"sometimes\"}}", 400, "thinking"},
            {"{\"messages\": [{\"role\": \"user\", \"content\": \"" + "word ".repeat(1500) + "\"}]}", 400, "messages"},
        };
        for (Object[] c : cases) {
            HttpResponse<String> r = post(server, "/v1/chat/completions", (String) c[0]);
            String label = ((String) c[0]).length() > 80 ? ((String) c[0]).substring(0, 80) : (String) c[0];
            assertThat(r.statusCode()).as(label).isEqualTo(c[1]);
            JsonNode error = JSON.readTree(r.body()).get("error");
            assertThat(error.get("message").asString()).as(label).isNotBlank();
            assertThat(error.get("type").asString()).as(label).isEqualTo("invalid_request_error");
            if (c[2] != null) {
                assertThat(error.get("param").asString()).as(label).isEqualTo(c[2]);
            }
        }
        HttpResponse<String> missing = HTTP.send(HttpRequest.newBuilder(uri(server, "/v1/embeddings"))
                .POST(HttpRequest.BodyPublishers.ofString("{}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(missing.statusCode()).isEqualTo(404);
        assertThat(server.busySlots()).isZero();
    }

    @Test
    void aClientThatLeavesMidStreamFreesItsSlot() throws Exception {
        String body = chatBody("Tell me a long story.", true).replace("\"max_tokens\":" + MAX_TOKENS, "\"max_tokens\":900");
        HttpResponse<InputStream> r = HTTP.send(HttpRequest.newBuilder(uri(server, "/v1/chat/completions"))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            int events = 0;
            while (events < 3) {
                if (in.readLine().startsWith("data: ")) {
                    events++;
                }
            }
            assertThat(server.busySlots()).isEqualTo(1);
        } // closing the body closes the connection
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (server.busySlots() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertThat(server.busySlots()).isZero();
    }

    @Test
    void requestsBeyondTheSlotsAndTheQueueGet429() throws Exception {
        try (Server small = Server.start(new Server.Options("127.0.0.1", 0, 1, 1024, 64, 0, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            small.serve(Model.open(MODEL, 1), "small");
            String longReply = chatBody("Go on and on.", true).replace("\"max_tokens\":" + MAX_TOKENS, "\"max_tokens\":900");
            HttpResponse<InputStream> first = HTTP.send(HttpRequest.newBuilder(uri(small, "/v1/chat/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(longReply)).build(), HttpResponse.BodyHandlers.ofInputStream());
            try (InputStream stream = first.body()) {
                stream.read(); // the first is being served
                HttpResponse<String> second = post(small, "/v1/chat/completions", chatBody("Me too?", false));
                assertThat(second.statusCode()).isEqualTo(429);
                assertThat(JSON.readTree(second.body()).get("error").get("type").asString()).isEqualTo("rate_limit_error");
            }
            // More choices than the slots and the queue hold could never be served: not a 429, which invites a retry.
            HttpResponse<String> many = post(small, "/v1/chat/completions", chatBody("Twice?", false).replaceFirst("\\{", "{\"n\":2,"));
            assertThat(many.statusCode()).isEqualTo(400);
            JsonNode error = JSON.readTree(many.body()).get("error");
            assertThat(error.get("param").asString()).isEqualTo("n");
            assertThat(error.get("message").asString()).contains("more than the 1 replies this server can hold");
        }
    }

    @Test
    void anApiKeyIsRequiredWhenSetAndHealthAnswers503UntilTheModelIsServed() throws Exception {
        try (Server locked = Server.start(new Server.Options("127.0.0.1", 0, 1, 512, 64, 4, KvCache.Type.F16, "s3cret", 64L << 20, null, 0))) {
            HttpResponse<String> loading = HTTP.send(HttpRequest.newBuilder(uri(locked, "/health")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(loading.statusCode()).isEqualTo(503);
            locked.serve(Model.open(MODEL, 1), "locked");
            assertThat(HTTP.send(HttpRequest.newBuilder(uri(locked, "/health")).build(),
                    HttpResponse.BodyHandlers.ofString()).statusCode()).isEqualTo(200);
            HttpResponse<String> denied = post(locked, "/v1/chat/completions", chatBody("hi", false));
            assertThat(denied.statusCode()).isEqualTo(401);
            assertThat(JSON.readTree(denied.body()).get("error").get("type").asString()).isEqualTo("authentication_error");
            HttpResponse<String> allowed = HTTP.send(HttpRequest.newBuilder(uri(locked, "/v1/chat/completions"))
                    .header("Authorization", "Bearer s3cret")
                    .POST(HttpRequest.BodyPublishers.ofString(chatBody("hi", false))).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(allowed.statusCode()).isEqualTo(200);
        }
    }
}
