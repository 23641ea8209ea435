package dev.fathom.serve;

import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ReasoningParser;
import dev.fathom.model.chat.ToolCallParser;
import dev.fathom.model.chat.ToolSyntax;
import dev.fathom.model.generate.JsonGrammar;
import dev.fathom.model.generate.JsonSchema;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Generation.StopReason;
import dev.fathom.model.generate.SamplerSettings;
import dev.fathom.model.generate.TokenLogprobs;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.serve.Scheduler.Outcome;
import dev.fathom.serve.Server.Engine;
import io.helidon.http.HeaderNames;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import tools.jackson.databind.node.ObjectNode;

/**
 * One completion, from the parsed request to the response: for the chat API, the prompt rendered
 * with the model's chat template and each reply's text split into {@code reasoning_content} and
 * {@code content}; for the text API, the prompt as given (in the model's fill-in-the-middle form
 * when there is a suffix) and the text as it comes. {@code n} replies (choices) come from the
 * {@link Scheduler}, each with its own seed, sent whole or as server-sent events. The scheduler's
 * events are handed over through a queue, so the engine never waits for a client; a client that
 * goes away mid-stream cancels its replies, which frees their slots at the next step.
 */
final class Completion {
    /** DeepSeek's fill-in-the-middle tokens. */
    private static final String FIM_BEGIN = "<｜fim▁begin｜>";
    private static final String FIM_HOLE = "<｜fim▁hole｜>";
    private static final String FIM_END = "<｜fim▁end｜>";
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

    private record Token(int choice, TokenLogprobs logprobs) implements Event {
    }

    /** Where one choice's parsed reply goes: its reasoning, its content and its function calls. */
    private interface Output extends ReasoningParser.Sink, ToolCallParser.Sink {
        @Override
        default void callStarted(int index, String name) {
        }

        @Override
        default void arguments(int index, String fragment) {
        }
    }

    /** The function calls of one choice, with the ids the server gives them. */
    private static final class Calls {
        final List<String> ids = new ArrayList<>();
        final List<String> names = new ArrayList<>();
        final List<StringBuilder> arguments = new ArrayList<>();

        String start(String name) {
            String callId = "call_" + UUID.randomUUID().toString().replace("-", "").substring(0, 24);
            ids.add(callId);
            names.add(name);
            arguments.add(new StringBuilder());
            return callId;
        }

        boolean any() {
            return !ids.isEmpty();
        }
    }

    /** One reply of the request: its events go to the shared queue, marked with its index. */
    private final class Choice implements Scheduler.Listener {
        final int index;
        Scheduler.Job job;
        Outcome outcome;
        /** Log-probabilities of tokens whose text has not been passed on yet. */
        final List<TokenLogprobs> pending = new ArrayList<>();
        /** Log-probabilities of the answer's tokens, for a whole reply. */
        final List<TokenLogprobs> content = new ArrayList<>();
        final Calls calls = new Calls();

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

        @Override
        public void onToken(TokenLogprobs logprobs) {
            events.add(new Token(index, logprobs));
        }
    }

    private final Engine engine;
    private final CompletionRequest request;
    private final boolean chat;
    private final ServerResponse response;
    private final BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    private final List<Choice> choices = new ArrayList<>();
    private final String id;
    private final long created = System.currentTimeMillis() / 1000;
    /** How the model writes function calls, when the request offers functions. */
    private ToolSyntax toolSyntax;
    /** What the reply was made to start with: the beginning of a call that the request forces ("" if none). */
    private String forcedStart = "";

    Completion(Engine engine, CompletionRequest request, ServerResponse response) {
        this.engine = engine;
        this.request = request;
        this.chat = request.messages() != null;
        this.response = response;
        this.id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
    }

    /** The prompt's text, and whether the reply starts inside a {@code <think>} block it opened. */
    private record Prompt(String text, boolean opensThinking) {
    }

    void run() {
        boolean opensThinking;
        try {
            int[] prompt;
            if (chat) {
                Prompt chatPrompt = chatPrompt();
                prompt = engine.model().chatTokens(chatPrompt.text());
                opensThinking = chatPrompt.opensThinking();
            } else {
                prompt = engine.model().tokenizer().encode(textPrompt(), true, true);
                opensThinking = false;
            }
            Scheduler scheduler = engine.scheduler();
            if (request.n() > scheduler.capacity()) {
                // Not a 429: waiting would never help.
                Server.send(response, ApiError.invalid("n", "n is " + request.n() + ", more than the " + scheduler.capacity()
                        + " replies this server can hold at once (slots: " + scheduler.slots() + ", queue: "
                        + (scheduler.capacity() - scheduler.slots()) + ")"));
                return;
            }
            JsonGrammar document = documentGrammar();
            Scheduler.Format format = !request.json() && document == null ? Scheduler.Format.TEXT
                    : opensThinking ? Scheduler.Format.JSON_AFTER_REASONING : Scheduler.Format.JSON;
            for (int i = 0; i < request.n(); i++) {
                SamplerSettings seeded = request.sampler().withSeed(request.sampler().seed() + i);
                Choice choice = new Choice(i);
                choices.add(choice);
                choice.job = engine.scheduler().submit(prompt, new Generation(seeded, request.maxTokens(), request.stop()),
                        new Scheduler.Options(format, document, request.topLogprobs(), toolSyntax != null), choice);
            }
        } catch (UnsupportedOperationException e) {
            Server.send(response, ApiError.unprocessable(chat ? "messages" : "suffix", e.getMessage()));
            return;
        } catch (IllegalArgumentException e) {
            Server.send(response, ApiError.invalid(chat ? "messages" : "prompt", e.getMessage()));
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
            stream(opensThinking);
        } else {
            whole(opensThinking);
        }
    }

    /**
     * A chat's prompt: the conversation in the model's template, the functions it may call in its
     * system prompt; then the start of the reply where the request fixes it (a forced call, a prefix).
     */
    private Prompt chatPrompt() {
        ChatTemplate template = engine.model().chatTemplate();
        if (request.thinking() != null) {
            template = template.withThinking(request.thinking());
        }
        CompletionRequest.Tools tools = request.tools();
        String text = template.render(request.messages(), tools == null ? List.of() : tools.offered(), true);
        boolean opensThinking = template.opensThinking(request.messages());
        if (tools != null) {
            toolSyntax = template.toolSyntax();
            if (tools.required()) {
                // The reply starts as a call (of the named function, if one is), after any reasoning is closed.
                forcedStart = tools.forced() != null ? toolSyntax.prefix(tools.forced().name())
                        : toolSyntax.sectionStart() + toolSyntax.callStart();
                text += (opensThinking ? template.closeThinking() : "") + forcedStart;
                opensThinking = false;
            }
        }
        CompletionRequest.Prefix prefix = request.prefix();
        if (prefix != null) {
            // The reply goes on from the prefix: the reasoning's, if it gives one and the prompt opened a
            // think block; else the answer's, after that block is closed. The reply holds only what follows.
            if (opensThinking && prefix.reasoning() != null && prefix.content().isEmpty()) {
                text += prefix.reasoning();
            } else {
                text += (opensThinking ? template.closeThinking() : "") + prefix.content();
                opensThinking = false;
            }
        }
        return new Prompt(text, opensThinking);
    }

    /**
     * The grammar of what the reply must be, where the request fixes it: the arguments of a
     * required call (after the function's name, itself one of the functions it may call, when the
     * request names none), or the response format's schema; null for free text or any JSON object.
     */
    private JsonGrammar documentGrammar() {
        CompletionRequest.Tools tools = request.tools();
        if (tools != null && tools.required()) {
            if (tools.forced() != null) {
                return JsonGrammar.of(tools.arguments().get(tools.forced().name()));
            }
            Map<String, JsonSchema> leads = new LinkedHashMap<>();
            tools.arguments().forEach((name, schema) -> leads.put(name + toolSyntax.nameEnd(), schema));
            return JsonGrammar.led(leads);
        }
        return request.schema() == null ? null : JsonGrammar.of(request.schema());
    }

    /** A text completion's prompt: as given, or with a suffix in the model's fill-in-the-middle form. */
    private String textPrompt() {
        if (request.suffix() == null) {
            return request.prompt();
        }
        Tokenizer tokenizer = engine.model().tokenizer();
        for (String t : List.of(FIM_BEGIN, FIM_HOLE, FIM_END)) {
            if (tokenizer.id(t) < 0) {
                throw new UnsupportedOperationException("this model has no fill-in-the-middle tokens (" + t
                        + "): leave out suffix");
            }
        }
        return FIM_BEGIN + request.prompt() + FIM_HOLE + request.suffix() + FIM_END;
    }

    /**
     * Feeds one choice's text to where it goes: for a chat reply, the reasoning parser, and its
     * answer through the function-call parser when the request offers functions; else straight on.
     */
    private Consumer<String> intake(boolean opensThinking, Output out, List<Runnable> finishers) {
        if (!chat) {
            return out::content;
        }
        if (toolSyntax == null) {
            ReasoningParser parser = new ReasoningParser(opensThinking, out);
            finishers.add(parser::finish);
            return parser::push;
        }
        ToolCallParser calls = new ToolCallParser(toolSyntax, out);
        calls.push(forcedStart);
        ReasoningParser parser = new ReasoningParser(opensThinking, new ReasoningParser.Sink() {
            @Override
            public void reasoning(String text) {
                out.reasoning(text);
            }

            @Override
            public void content(String text) {
                calls.push(text);
            }
        });
        finishers.add(() -> {
            parser.finish();
            calls.finish();
        });
        return parser::push;
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
        List<Consumer<String>> intakes = new ArrayList<>();
        List<Runnable> finishers = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ReasoningParser.Collector collector = new ReasoningParser.Collector();
            Choice choice = choices.get(i);
            texts[i] = collector;
            intakes.add(intake(opensThinking, new Output() {
                @Override
                public void reasoning(String text) {
                    collector.reasoning(text);
                    choice.pending.clear(); // the reasoning's tokens get no log-probabilities, as with DeepSeek
                }

                @Override
                public void content(String text) {
                    collector.content(text);
                    choice.content.addAll(choice.pending);
                    choice.pending.clear();
                }

                @Override
                public void callStarted(int index, String name) {
                    choice.calls.start(name);
                    choice.pending.clear();
                }

                @Override
                public void arguments(int index, String fragment) {
                    choice.calls.arguments.get(index).append(fragment);
                    choice.pending.clear();
                }
            }, finishers));
        }
        for (int done = 0; done < n; ) {
            switch (take()) {
                case Token t -> choices.get(t.choice()).pending.add(t.logprobs());
                case Text t -> intakes.get(t.choice()).accept(t.piece());
                case Failed f -> {
                    cancelAll();
                    Server.send(response, new ApiError(500, "server_error", null, "generation failed: " + f.error().getMessage()));
                    return;
                }
                case Done d -> {
                    choices.get(d.choice()).outcome = d.outcome();
                    done++;
                }
            }
        }
        finishers.forEach(Runnable::run);
        ObjectNode body = head(chat ? "chat.completion" : "text_completion");
        var array = body.putArray("choices");
        for (int i = 0; i < n; i++) {
            ObjectNode choice = array.addObject();
            choice.put("index", i);
            if (chat) {
                ObjectNode message = choice.putObject("message");
                message.put("role", "assistant");
                Calls calls = choices.get(i).calls;
                if (calls.any() && texts[i].content().isEmpty()) {
                    message.putNull("content"); // as OpenAI's API answers a turn that only calls functions
                } else {
                    message.put("content", texts[i].content());
                }
                if (calls.any()) {
                    var toolCalls = message.putArray("tool_calls");
                    for (int c = 0; c < calls.ids.size(); c++) {
                        toolCalls.addObject().put("id", calls.ids.get(c)).put("type", "function").putObject("function")
                                .put("name", calls.names.get(c)).put("arguments", calls.arguments.get(c).toString());
                    }
                }
                if (!texts[i].reasoning().isEmpty() || opensThinking) {
                    message.put("reasoning_content", texts[i].reasoning());
                } else {
                    message.putNull("reasoning_content");
                }
            } else {
                choice.put("text", (request.echo() ? request.prompt() : "") + texts[i].content());
            }
            if (request.topLogprobs() >= 0) {
                choice.set("logprobs", logprobs(choices.get(i).content));
            } else {
                choice.putNull("logprobs");
            }
            choice.put("finish_reason", finishReason(choices.get(i)));
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
            List<Consumer<String>> intakes = new ArrayList<>();
            List<Runnable> finishers = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                int index = i;
                if (chat) {
                    ObjectNode first = chunk(index);
                    delta(first).put("role", "assistant").put("content", "");
                    event(out, first);
                } else if (request.echo()) {
                    event(out, textChunk(index, request.prompt()));
                }
                Choice owner = choices.get(i);
                intakes.add(intake(opensThinking, new Output() {
                    @Override
                    public void callStarted(int call, String name) {
                        ObjectNode c = chunk(index);
                        delta(c).putArray("tool_calls").addObject().put("index", call).put("id", owner.calls.start(name))
                                .put("type", "function").putObject("function").put("name", name).put("arguments", "");
                        owner.pending.clear();
                        event(out, c);
                    }

                    @Override
                    public void arguments(int call, String fragment) {
                        ObjectNode c = chunk(index);
                        delta(c).putArray("tool_calls").addObject().put("index", call).putObject("function")
                                .put("arguments", fragment);
                        owner.pending.clear();
                        event(out, c);
                    }

                    @Override
                    public void reasoning(String text) {
                        ObjectNode c = chunk(index);
                        delta(c).put("reasoning_content", text).putNull("content");
                        owner.pending.clear();
                        event(out, c);
                    }

                    @Override
                    public void content(String text) {
                        if (chat) {
                            ObjectNode c = chunk(index);
                            delta(c).put("content", text).putNull("reasoning_content");
                            if (request.topLogprobs() >= 0) {
                                c.withArray("choices").get(0).asObject().set("logprobs", logprobs(owner.pending));
                                owner.pending.clear();
                            }
                            event(out, c);
                        } else {
                            event(out, textChunk(index, text));
                        }
                    }
                }, finishers));
            }
            for (int done = 0; done < n; ) {
                Event event = events.poll(KEEP_ALIVE_SECONDS, TimeUnit.SECONDS);
                switch (event) {
                    case null -> write(out, ": keep-alive\n\n");
                    case Token t -> choices.get(t.choice()).pending.add(t.logprobs());
                    case Text t -> intakes.get(t.choice()).accept(t.piece());
                    case Failed f -> {
                        ObjectNode error = new ApiError(500, "server_error", null, "generation failed: "
                                + f.error().getMessage()).body(Server.JSON);
                        write(out, "data: " + Server.JSON.writeValueAsString(error) + "\n\n");
                        return;
                    }
                    case Done d -> {
                        if (chat) {
                            finishers.get(d.choice()).run();
                        }
                        choices.get(d.choice()).outcome = d.outcome();
                        ObjectNode last = chat ? chunk(d.choice()) : textChunk(d.choice(), "");
                        last.withArray("choices").get(0).asObject().put("finish_reason", finishReason(choices.get(d.choice())));
                        event(out, last);
                        done++;
                    }
                }
            }
            if (request.includeUsage()) {
                ObjectNode usage = head(chat ? "chat.completion.chunk" : "text_completion");
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

    /** OpenAI's {@code logprobs} object: each token's text, log-probability, bytes and most likely alternatives. */
    private ObjectNode logprobs(List<TokenLogprobs> tokens) {
        ObjectNode out = Server.JSON.createObjectNode();
        var content = out.putArray("content");
        for (TokenLogprobs t : tokens) {
            ObjectNode entry = tokenEntry(t.token(), t.logprob());
            var top = entry.putArray("top_logprobs");
            for (int j = 0; j < t.top().length; j++) {
                top.add(tokenEntry(t.top()[j], t.topLogprobs()[j]));
            }
            content.add(entry);
        }
        out.putNull("refusal");
        return out;
    }

    private ObjectNode tokenEntry(int token, float logprob) {
        byte[] bytes = engine.model().tokenizer().bytes(token, false);
        ObjectNode entry = Server.JSON.createObjectNode();
        entry.put("token", new String(bytes, StandardCharsets.UTF_8));
        entry.put("logprob", logprob);
        var array = entry.putArray("bytes");
        for (byte b : bytes) {
            array.add(b & 0xFF);
        }
        return entry;
    }

    /** A text completion's chunk of choice {@code index}. */
    private ObjectNode textChunk(int index, String text) {
        ObjectNode c = head("text_completion");
        ObjectNode choice = c.putArray("choices").addObject();
        choice.put("text", text);
        choice.put("index", index);
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

    /** Why a choice ended, in OpenAI's words: a reply that called functions and ended by itself ends in {@code tool_calls}. */
    private static String finishReason(Choice choice) {
        StopReason reason = choice.outcome.stopReason();
        if (choice.calls.any() && reason != StopReason.MAX_TOKENS && reason != StopReason.CONTEXT_FULL) {
            return "tool_calls";
        }
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
