package dev.fathom.serve;

import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ReasoningParser;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.serve.Scheduler.Outcome;
import dev.fathom.serve.Server.Engine;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.node.ObjectNode;

/**
 * One chat completion, from the parsed request to the response: the prompt rendered with the
 * model's chat template, {@code n} replies (choices) from the {@link Scheduler}, each with its own
 * seed, their text split into {@code reasoning_content} and {@code content}, sent whole or as
 * server-sent events. The scheduler's events are handed over through a queue, so the engine never
 * waits for a client; a client that goes away mid-stream cancels its replies, which frees their
 * slots at the next step.
 */
final class ChatCompletion {
    /** A streamed request that waits this long for a slot gets a comment, which also finds a client that left. */
    private static final long KEEP_ALIVE_SECONDS = 5;

    private sealed interface Event {
        int choice();
    }

    private record Text(int choice, String piece) implements Event {
    }

    private record Done(int choice, Outcome outcome) implements Event {
    }

    private record Failed(int choice, RuntimeException error) implements Event {
    }

    /** One reply of the request: its events go to the shared queue, marked with its index. */
    private final class Choice implements Scheduler.Listener {
        final int index;
        Scheduler.Job job;
        Outcome outcome;

        Choice(int index) {
            this.index = index;
        }

        @Override
        public void onText(String piece) {
            events.add(new Text(index, piece));
        }

        @Override
        public void onDone(Outcome done) {
            engine.metrics().record(done);
            events.add(new Done(index, done));
        }

        @Override
        public void onError(RuntimeException error) {
            events.add(new Failed(index, error));
        }
    }

    private final Engine engine;
    private final ChatRequest request;
    private final ServerResponse response;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final List<Choice> choices = new ArrayList<>();
    private final String id = "chatcmpl-" + UUID.randomUUID().toString().replace("-", "");
    private final long created = System.currentTimeMillis() / 1000;

    ChatCompletion(Engine engine, ChatRequest request, ServerResponse response) {
        this.engine = engine;
        this.request = request;
        this.response = response;
    }

    void run() {
        ChatTemplate template;
        try {
            template = engine.model().chatTemplate();
            if (request.thinking() != null) {
                template = template.withThinking(request.thinking());
            }
            int[] prompt = engine.model().chatTokens(template.render(request.messages(), true));
            Scheduler.Format format = !request.json() ? Scheduler.Format.TEXT
                    : template.opensThinking() ? Scheduler.Format.JSON_AFTER_REASONING : Scheduler.Format.JSON;
            for (int i = 0; i < request.n(); i++) {
                SamplerSettings s = request.sampler();
                SamplerSettings seeded = new SamplerSettings(s.temperature(), s.topK(), s.topP(), s.minP(), s.repeatPenalty(),
                        s.repeatLastN(), s.presencePenalty(), s.frequencyPenalty(), s.seed() + i);
                Choice choice = new Choice(i);
                choices.add(choice);
                choice.job = engine.scheduler().submit(prompt, new Generation(seeded, request.maxTokens(), request.stop()),
                        format, choice);
            }
        } catch (UnsupportedOperationException e) {
            Server.send(response, ApiError.unprocessable("messages", e.getMessage()));
            return;
        } catch (ContextOverflowException e) {
            Server.send(response, Server.tooLong(e, engine.scheduler().contextLength()));
            return;
        } catch (Scheduler.QueueFullException e) {
            cancelAll();
            Server.send(response, new ApiError(429, "rate_limit_error", null, e.getMessage()));
            return;
        }
        if (request.stream()) {
            stream(template.opensThinking());
        } else {
            whole(template.opensThinking());
        }
    }

    private void cancelAll() {
        for (Choice c : choices) {
            if (c.job != null) {
                c.job.cancel();
            }
        }
    }

    /** Waits for every reply and sends them as one JSON object. */
    private void whole(boolean opensThinking) {
        int n = choices.size();
        ReasoningParser.Collector[] texts = new ReasoningParser.Collector[n];
        ReasoningParser[] parsers = new ReasoningParser[n];
        for (int i = 0; i < n; i++) {
            texts[i] = new ReasoningParser.Collector();
            parsers[i] = new ReasoningParser(opensThinking, texts[i]);
        }
        for (int done = 0; done < n; ) {
            switch (take()) {
                case Text t -> parsers[t.choice()].push(t.piece());
                case Failed f -> {
                    cancelAll();
                    Server.send(response, new ApiError(500, "server_error", null, "generation failed: " + f.error().getMessage()));
                    return;
                }
                case Done d -> {
                    parsers[d.choice()].finish();
                    choices.get(d.choice()).outcome = d.outcome();
                    done++;
                }
            }
        }
        ObjectNode body = head("chat.completion");
        var array = body.putArray("choices");
        for (int i = 0; i < n; i++) {
            ObjectNode choice = array.addObject();
            choice.put("index", i);
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", texts[i].content());
            if (!texts[i].reasoning().isEmpty() || opensThinking) {
                message.put("reasoning_content", texts[i].reasoning());
            } else {
                message.putNull("reasoning_content");
            }
            choice.putNull("logprobs");
            choice.put("finish_reason", finishReason(choices.get(i).outcome.stopReason()));
        }
        body.set("usage", usage(opensThinking));
        Server.sendJson(response, body);
    }

    /** Streams the replies as server-sent events: role, reasoning and content deltas, each one's end, usage, [DONE]. */
    private void stream(boolean opensThinking) {
        response.header(HeaderNames.CONTENT_TYPE, "text/event-stream");
        response.header(HeaderNames.CACHE_CONTROL, "no-cache");
        boolean delivered = false;
        try (OutputStream out = response.outputStream()) {
            int n = choices.size();
            ReasoningParser[] parsers = new ReasoningParser[n];
            for (int i = 0; i < n; i++) {
                int index = i;
                ObjectNode first = chunk(index);
                delta(first).put("role", "assistant").put("content", "");
                event(out, first);
                parsers[i] = new ReasoningParser(opensThinking, new ReasoningParser.Sink() {
                    @Override
                    public void reasoning(String text) {
                        ObjectNode c = chunk(index);
                        delta(c).put("reasoning_content", text).putNull("content");
                        event(out, c);
                    }

                    @Override
                    public void content(String text) {
                        ObjectNode c = chunk(index);
                        delta(c).put("content", text).putNull("reasoning_content");
                        event(out, c);
                    }
                });
            }
            for (int done = 0; done < n; ) {
                Event event = events.poll(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
                switch (event) {
                    case null -> write(out, ": keep-alive\n\n");
                    case Text t -> parsers[t.choice()].push(t.piece());
                    case Failed f -> {
                        ObjectNode error = new ApiError(500, "server_error", null, "generation failed: "
                                + f.error().getMessage()).body(Server.JSON);
                        write(out, "data: " + Server.JSON.writeValueAsString(error) + "\n\n");
                        return;
                    }
                    case Done d -> {
                        parsers[d.choice()].finish();
                        choices.get(d.choice()).outcome = d.outcome();
                        ObjectNode last = chunk(d.choice());
                        last.withArray("choices").get(0).asObject().put("finish_reason", finishReason(d.outcome().stopReason()));
                        event(out, last);
                        done++;
                    }
                }
            }
            if (request.includeUsage()) {
                ObjectNode usage = head("chat.completion.chunk");
                usage.putArray("choices");
                usage.set("usage", usage(opensThinking));
                event(out, usage);
            }
            write(out, "data: [DONE]\n\n");
            delivered = true;
        } catch (IOException e) {
            // the client went away while the stream closed: nothing more to send
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            // A write that failed (the client went away; the server's writer reports that in its own
            // exception types), an error, an interruption: free the slots at the next step.
            if (!delivered) {
                cancelAll();
            }
        }
    }

    private Event take() {
        try {
            return events.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cancelAll();
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

    /** A chunk of choice {@code index}, its delta and finish_reason still empty. */
    private ObjectNode chunk(int index) {
        ObjectNode c = head("chat.completion.chunk");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("index", index);
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

    /**
     * Token counts, with the cache hits and the reasoning share as DeepSeek reports them: the
     * prompt once, the completions of every choice together.
     */
    private ObjectNode usage(boolean opensThinking) {
        Outcome first = choices.getFirst().outcome;
        int completion = 0;
        int reasoning = 0;
        for (Choice c : choices) {
            completion += c.outcome.tokens().length;
            reasoning += reasoningTokens(c.outcome.tokens(), opensThinking);
        }
        ObjectNode usage = Server.JSON.createObjectNode();
        usage.put("prompt_tokens", first.promptTokens());
        usage.put("completion_tokens", completion);
        usage.put("total_tokens", first.promptTokens() + completion);
        usage.putObject("prompt_tokens_details").put("cached_tokens", first.cachedTokens());
        usage.put("prompt_cache_hit_tokens", first.cachedTokens());
        usage.put("prompt_cache_miss_tokens", first.promptTokens() - first.cachedTokens());
        usage.putObject("completion_tokens_details").put("reasoning_tokens", reasoning);
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
