package dev.fathom.serve;

import dev.fathom.model.Model;
import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.arch.KvCache;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.InputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.logging.Level;
import java.util.logging.Logger;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * The HTTP API: DeepSeek's and OpenAI's chat completions ({@code /v1/chat/completions} and
 * {@code /chat/completions}), text completions with fill-in-the-middle ({@code /v1/completions},
 * {@code /beta/completions}), the model list, health, Prometheus metrics, and the web chat at
 * {@code /}. It listens as soon as it starts and
 * answers 503 until {@link #serve} hands it a loaded model, so that a supervisor can watch
 * {@code /health} while a large model maps.
 */
public final class Server implements AutoCloseable {
    /**
     * @param slots replies generated at once (continuous batching)
     * @param contextLength tokens per slot, prompt and reply together
     * @param batchSize the most tokens per forward pass
     * @param queueLimit requests that may wait for a slot before the server answers 429
     * @param apiKey the bearer token clients must send, or null for none
     * @param prefixCacheBytes memory for the keys and values of earlier prompts beyond the slots
     * @param prefixCacheDisk where blocks of the prefix cache go when they leave memory (null: nowhere)
     * @param prefixCacheDiskBytes how many bytes of such blocks to keep there
     */
    public record Options(String host, int port, int slots, int contextLength, int batchSize, int queueLimit,
            KvCache.Type cacheType, String apiKey, long prefixCacheBytes, Path prefixCacheDisk, long prefixCacheDiskBytes) {
    }

    static final JsonMapper JSON = JsonMapper.builder().build();
    /** Helidon's start-up notes are not the user's business; its warnings are. Held so that the setting stays. */
    private static final Logger HELIDON = Logger.getLogger("io.helidon");

    static {
        HELIDON.setLevel(Level.WARNING);
    }
    private static final byte[] PAGE = resource("web/index.html");
    /** Request bodies above this size are refused (a conversation of a few hundred thousand tokens fits). */
    private static final long MAX_BODY = 16L << 20;

    private final Options options;
    private final WebServer web;
    private volatile Engine engine;

    /** The loaded model and what serves it. */
    record Engine(Model model, String id, Scheduler scheduler, long created, Metrics metrics) {
    }

    private Server(Options options) {
        this.options = options;
        this.web = WebServer.builder()
                .host(options.host())
                .port(options.port())
                .maxPayloadSize(MAX_BODY)
                .routing(this::routes)
                .build()
                .start();
    }

    /** Starts listening; API calls get 503 until {@link #serve}. */
    public static Server start(Options options) {
        return new Server(options);
    }

    /** Serves {@code model} under the name {@code id}; the server owns it from now on and closes it. */
    public void serve(Model model, String id) {
        int context = options.contextLength() > 0 ? options.contextLength()
                : Math.min(4096, model.network().trainedContextLength());
        Scheduler scheduler = new Scheduler(model.network(), model.tokenizer(), options.cacheType(), options.slots(),
                context, Math.max(options.batchSize(), options.slots()), options.queueLimit(), options.prefixCacheBytes(),
                options.prefixCacheDisk(), options.prefixCacheDiskBytes());
        engine = new Engine(model, id, scheduler, System.currentTimeMillis() / 1000, new Metrics());
    }

    /** Slots generating or reading a prompt (0 before a model is served). */
    int busySlots() {
        Engine e = engine;
        return e == null ? 0 : e.scheduler().busy();
    }

    /** The port it listens on (useful with port 0). */
    public int port() {
        return web.port();
    }

    private void routes(HttpRouting.Builder routing) {
        routing.addFilter(this::authorize)
                .get("/", this::page)
                .get("/health", this::health)
                .get("/metrics", this::metrics)
                .get("/v1/models", this::models)
                .get("/models", this::models)
                .post("/v1/chat/completions", (req, res) -> complete(req, res, true))
                .post("/chat/completions", (req, res) -> complete(req, res, true))
                .post("/v1/completions", (req, res) -> complete(req, res, false))
                .post("/completions", (req, res) -> complete(req, res, false))
                .post("/beta/completions", (req, res) -> complete(req, res, false))
                .any((req, res) -> send(res, new ApiError(404, "invalid_request_error", null,
                        "no route " + req.prologue().method().text() + " " + req.path().path())));
    }

    /** With an API key, every route but the page and {@code /health} needs {@code Authorization: Bearer KEY}. */
    private void authorize(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        String key = options.apiKey();
        String path = req.path().path();
        if (key != null && !path.equals("/health") && !path.equals("/")) {
            String given = req.headers().first(HeaderNames.AUTHORIZATION).orElse("");
            byte[] expected = ("Bearer " + key).getBytes(StandardCharsets.UTF_8);
            if (!MessageDigest.isEqual(expected, given.getBytes(StandardCharsets.UTF_8))) {
                send(res, new ApiError(401, "authentication_error", null,
                        "a valid API key is needed: send the header Authorization: Bearer <key>"));
                return;
            }
        }
        chain.proceed();
    }

    /** The web chat: one page, its styles and script inline, so that it works with no network. */
    private void page(ServerRequest req, ServerResponse res) {
        res.header(HeaderNames.CONTENT_TYPE, "text/html; charset=utf-8");
        res.send(PAGE);
    }

    private void health(ServerRequest req, ServerResponse res) {
        ObjectNode body = JSON.createObjectNode();
        if (engine == null) {
            res.status(503);
            body.put("status", "loading model");
        } else {
            body.put("status", "ok");
        }
        sendJson(res, body);
    }

    private void metrics(ServerRequest req, ServerResponse res) {
        Engine e = engine;
        if (e == null) {
            send(res, new ApiError(503, "service_unavailable", null, "the model is still loading"));
            return;
        }
        res.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        res.send(e.metrics().render(e.scheduler()).getBytes(StandardCharsets.UTF_8));
    }

    private void models(ServerRequest req, ServerResponse res) {
        Engine e;
        try {
            e = ready();
        } catch (ApiError error) {
            send(res, error);
            return;
        }
        ObjectNode body = JSON.createObjectNode();
        body.put("object", "list");
        ObjectNode m = body.putArray("data").addObject();
        m.put("id", e.id());
        m.put("object", "model");
        m.put("created", e.created());
        m.put("owned_by", "fathom");
        sendJson(res, body);
    }

    /** A chat completion, or a text completion (with {@code suffix}: fill in the middle). */
    private void complete(ServerRequest req, ServerResponse res, boolean chat) {
        Engine e;
        CompletionRequest request;
        try {
            e = ready();
            JsonNode body = readJson(req);
            request = chat ? CompletionRequest.chat(body) : CompletionRequest.text(body);
        } catch (ApiError error) {
            send(res, error);
            return;
        }
        new Completion(e, request, res).run();
    }

    private static byte[] resource(String name) {
        try (InputStream in = Server.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IllegalStateException("the jar lacks " + name);
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private Engine ready() {
        Engine e = engine;
        if (e == null) {
            throw new ApiError(503, "service_unavailable", null, "the model is still loading; try again shortly");
        }
        return e;
    }

    private static JsonNode readJson(ServerRequest req) {
        try (InputStream in = req.content().inputStream()) {
            return JSON.readTree(in);
        } catch (JacksonException e) {
            throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw ApiError.invalid(null, "the request body could not be read: " + e.getMessage());
        }
    }

    static void send(ServerResponse res, ApiError error) {
        res.status(error.status());
        sendJson(res, error.body(JSON));
    }

    static void sendJson(ServerResponse res, JsonNode body) {
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(JSON.writeValueAsBytes(body));
    }

    /** The error for a prompt the context cannot hold, worded as OpenAI's. */
    static ApiError tooLong(ContextOverflowException e, int context) {
        return ApiError.invalid("messages", "This model's maximum context length is " + context + " tokens; the messages"
                + " take " + (e.needed() - 1) + " tokens and leave no room for a reply. Shorten them.");
    }

    @Override
    public void close() {
        web.stop();
        Engine e = engine;
        if (e != null) {
            e.scheduler().close();
            e.model().close();
        }
    }
}
