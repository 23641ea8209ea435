package dev.fathom.serve;

import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ReasoningParser;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.serve.Scheduler.Outcome;
import dev.fathom.serve.Server.Engine;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.node.ObjectNode;

/**
 * One chat completion, from the parsed request to the response: the prompt rendered with the
 * model's chat template, a reply from the {@link Scheduler}, its text split into
 * {@code reasoning_content} and {@code content}, sent whole or as server-sent events. The
 * scheduler's events are handed over through a queue, so the engine never waits for a client;
 * a client that goes away mid-stream cancels its reply, which frees the slot at the next step.
 */
final class ChatCompletion implements Scheduler.Listener {
    /** A streamed request that waits this long for a slot gets a comment, which also finds a client that left. */
    private static final long KEEP_ALIVE_SECONDS = 5;

    private sealed interface Event {
    }

    private record Text(String piece) implements Event {
    }

    private record Done(Outcome outcome) implements Event {
    }

    private record Failed(RuntimeException error) implements Event {
    }

    private final Engine engine;
    private final ChatRequest request;
    private final ServerResponse response;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
    private final long created = System.currentTimeMillis() / 1000;

    ChatCompletion(Engine engine, ChatRequest request, ServerResponse response) {
        this.engine = engine;
        this.request = request;
        this.response = response;
    }

    @Override
    public void onText(String piece) {
        events.add(new Text(piece));
    }

    @Override
    public void onDone(Outcome outcome) {
        engine.metrics().record(outcome);
        events.add(new Done(outcome));
    }

    @Override
    public void onError(RuntimeException error) {
        events.add(new Failed(error));
    }

    void run() {
        ChatTemplate template;
        int[] prompt;
        Scheduler.Job job;
        try {
            template = engine.model().chatTemplate();
            if (request.thinking() != null) {
                template = template.withThinking(request.thinking());
            }
            prompt = engine.model().chatTokens(template.render(request.messages(), true));
            Generation generation = new Generation(request.sampler(), request.maxTokens(), request.stop());
            Scheduler.Format format = !request.json() ? Scheduler.Format.TEXT
                    : template.opensThinking() ? Scheduler.Format.JSON_AFTER_REASONING : Scheduler.Format.JSON;
            job = engine.scheduler().submit(prompt, generation, format, this);
        } catch (UnsupportedOperationException e) {
            Server.send(response, ApiError.unprocessable("messages", e.getMessage()));
            return;
        } catch (ContextOverflowException e) {
            Server.send(response, Server.tooLong(e, engine.scheduler().contextLength()));
            return;
        } catch (Scheduler.QueueFullException e) {
            Server.send(response, new ApiError(429, "rate_limit_error", null, e.getMessage()));
            return;
        }
        if (request.stream()) {
            stream(job, template.opensThinking());
        } else {
            whole(template.opensThinking());
        }
    }

    /** Waits for the whole reply and sends it as one JSON object. */
    private void whole(boolean opensThinking) {
        StringBuilder reasoning = new StringBuilder();
        StringBuilder content = new StringBuilder();
        ReasoningParser parser = new ReasoningParser(opensThinking, new ReasoningParser.Sink() {
            @Override
            public void reasoning(String text) {
                reasoning.append(text);
            }

            @Override
            public void content(String text) {
                content.append(text);
            }
        });
        while (true) {
            Event event = take();
            switch (event) {
                case Text t -> parser.push(t.piece());
                case Failed f -> {
                    Server.send(response, new ApiError(500, "server_error", null, "generation failed: " + f.error().getMessage()));
                    return;
                }
                case Done d -> {
                    parser.finish();
                    ObjectNode body = head("chat.completion");
                    ObjectNode choice = body.putArray("choices").addObject();
                    choice.put("index", 0);
                    ObjectNode message = choice.putObject("message");
                    message.put("role", "assistant");
                    message.put("content", content.toString());
                    if (!reasoning.isEmpty() || opensThinking) {
                        message.put("reasoning_content", reasoning.toString());
                    } else {
                        message.putNull("reasoning_content");
                    }
                    choice.putNull("logprobs");
                    choice.put("finish_reason", finishReason(d.outcome().stopReason()));
                    body.set("usage", usage(d.outcome(), opensThinking));
                    Server.sendJson(response, body);
                    return;
                }
            }
        }
    }

    /** Streams the reply as server-sent events: role, reasoning and content deltas, the end, usage, [DONE]. */
    private void stream(Scheduler.Job job, boolean opensThinking) {
        response.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
        response.header(HeaderNames.CACHE_CONTROL, "no-cache");
        boolean delivered = false;
        try (OutputStream out = response.outputStream()) {
            ObjectNode first = chunk();
            ObjectNode delta = delta(first);
            delta.put("role", "assistant");
            delta.put("content", "");
            event(out, first);
            ReasoningParser parser = new ReasoningParser(opensThinking, new ReasoningParser.Sink() {
                @Override
                public void reasoning(String text) {
                    ObjectNode c = chunk();
                    delta(c).put("reasoning_content", text).putNull("content");
                    event(out, c);
                }

                @Override
                public void content(String text) {
                    ObjectNode c = chunk();
                    delta(c).put("content", text).putNull("reasoning_content");
                    event(out, c);
                }
            });
            while (true) {
                Event event = events.poll(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
                switch (event) {
                    case null -> write(out, ": keep-alive\n\n");
                    case Text t -> parser.push(t.piece());
                    case Failed f -> {
                        ObjectNode error = new ApiError(500, "server_error", null, "generation failed: "
                                + f.error().getMessage()).body(Server.JSON);
                        write(out, "data: " + Server.JSON.writeValueAsString(error) + "\n\n");
                        delivered = true;
                        return;
                    }
                    case Done d -> {
                        parser.finish();
                        ObjectNode last = chunk();
                        delta(last);
                        last.withArray("choices").get(0).asObject().put("finish_reason", finishReason(d.outcome().stopReason()));
                        event(out, last);
                        if (request.includeUsage()) {
                            ObjectNode usage = head("chat.completion.chunk");
                            usage.putArray("choices");
                            usage.set("usage", usage(d.outcome(), opensThinking));
                            event(out, usage);
                        }
                        write(out, "data: [DONE]\n\n");
                        delivered = true;
                        return;
                    }
                }
            }
        } catch (IOException e) {
            // the client went away while the stream closed: nothing more to send
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            // A write that failed (the client went away; the server's writer reports that in its own
            // exception types), an interruption, anything: free the slot at the next step.
            if (!delivered) {
                job.cancel();
            }
        }
    }

    private Event take() {
        try {
            return events.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the reply", e);
        }
    }

    private ObjectNode head(String object) {
        ObjectNode body = Server.JSON.createObjectNode();
        body.put("id", id);
        body.put("object", object);
        body.put("created", created);
        body.put("model", request.model() != null && !request.model().isBlank() ? request.model() : engine.id());
        body.put("system_fingerprint", "fathom");
        return body;
    }

    /** A chunk of one choice, its delta and finish_reason still empty. */
    private ObjectNode chunk() {
        ObjectNode c = head("chat.completion.chunk");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("index", 0);
        choice.putObject("delta");
        choice.putNull("logprobs");
        choice.putNull("finish_reason");
        if (request.includeUsage()) {
            c.putNull("usage");
        }
        return c;
    }

    private static ObjectNode delta(ObjectNode chunk) {
        return chunk.withArray("choices").get(0).asObject().withObject("delta");
    }

    private void event(OutputStream out, ObjectNode data) {
        write(out, "data: " + Server.JSON.writeValueAsString(data) + "\n\n");
    }

    private static void write(OutputStream out, String text) {
        try {
            out.write(text.getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String finishReason(StopReason reason) {
        return switch (reason) {
            case END_OF_GENERATION, STOP_STRING, CANCELLED -> "stop";
            case MAX_TOKENS, CONTEXT_FULL -> "length";
        };
    }

    /** Token counts, with the cache hits and the reasoning share as DeepSeek reports them. */
    private ObjectNode usage(Outcome o, boolean opensThinking) {
        int completion = o.tokens().length;
        ObjectNode usage = Server.JSON.createObjectNode();
        usage.put("prompt_tokens", o.promptTokens());
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", o.promptTokens() + completion);
        usage.putObject("prompt_tokens_details").put("cached_tokens", o.cachedTokens());
        usage.put("prompt_cache_hit_tokens", o.cachedTokens());
        usage.put("prompt_cache_miss_tokens", o.promptTokens() - o.cachedTokens());
        usage.putObject("completion_tokens_details").put("reasoning_tokens", reasoningTokens(o.tokens(), opensThinking));
        return usage;
    }

    /** The tokens up to and including {@code </think>}; all of them if the reply never closed its reasoning. */
    private int reasoningTokens(int[] tokens, boolean opensThinking) {
        int close = engine.model().tokenizer().id("</think>");
        for (int i = 0; i < tokens.length; i++) {
            if (tokens[i] == close) {
                return i + 1;
            }
        }
        return opensThinking ? tokens.length : 0;
    }
}
