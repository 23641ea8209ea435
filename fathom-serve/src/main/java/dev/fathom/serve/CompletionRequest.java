package dev.fathom.serve;

import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.Tool;
import dev.fathom.model.chat.ToolCall;
import dev.fathom.model.generate.JsonSchema;
import dev.fathom.model.generate.SamplerSettings;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;

/**
 * A completion request, of the chat API ({@code messages}) or of the text API ({@code prompt},
 * with {@code suffix} for fill-in-the-middle), checked field by field: a field of the wrong type is a 400 naming
 * it, a value out of its range a 422. Fields this server does not act on yet are refused with a
 * message saying so, rather than ignored, when ignoring them would change the answer.
 *
 * @param messages the conversation, for a chat completion; null for a text completion
 * @param prompt the text to continue, for a text completion
 * @param suffix the text after the gap, for a fill-in-the-middle completion; null for none
 * @param echo whether a text completion's choices start with the prompt
 * @param n how many replies (choices) to generate, each with its own seed (the request's, plus its index)
 * @param maxTokens the most tokens to generate; -1 until the context is full
 * @param thinking whether the reply reasons first, where the model has both modes; null: the model's default
 * @param json whether the answer must be one JSON object ({@code response_format} {@code json_object} or {@code json_schema})
 * @param schema the schema the object must follow ({@code json_schema}); null: any object
 * @param tools the functions the model may call, and whether and which it must; null: none
 * @param prefix DeepSeek's chat prefix completion: the start of the reply, from a last assistant
 *     message with {@code prefix: true} (taken out of {@code messages}); null: none
 * @param topLogprobs with {@code logprobs}, how many of the most likely tokens to report at each
 *     step besides the chosen one ({@code top_logprobs}); -1 without {@code logprobs}
 */
public record CompletionRequest(String model, List<ChatMessage> messages, String prompt, String suffix, boolean echo,
        int n, boolean stream, boolean includeUsage, int maxTokens, SamplerSettings sampler, List<String> stop,
        Boolean thinking, boolean json, JsonSchema schema, Tools tools, Prefix prefix, int topLogprobs) {

    /**
     * The text a reply must go on from: its answer so far, or (with {@code reasoning}, for
     * reasoning models) its reasoning so far.
     */
    public record Prefix(String content, String reasoning) {
    }

    /**
     * A request's {@code tools} and {@code tool_choice}: the functions described to the model; with
     * {@code required} the reply must call one, and with a named function ({@code forced}) that one.
     * A reply that must call a function is generated under the parameter schemas of those it may
     * call ({@code arguments}, by name; empty when no call is required), so it names one of them
     * and gives arguments its schema accepts.
     */
    public record Tools(List<Tool> offered, boolean required, Tool forced, Map<String, JsonSchema> arguments) {
    }

    /** The most functions one request may offer, as OpenAI allows. */
    static final int MAX_TOOLS = 128;

    /** The most choices one request may ask for. */
    static final int MAX_CHOICES = 16;

    private static final Set<String> ROLES = Set.of("system", "user", "assistant", "tool");

    /** Reads and checks the body of a chat completion. */
    public static CompletionRequest chat(JsonNode body) {
        requireObject(body);
        List<ChatMessage> messages = messages(body.get("messages"));
        Prefix prefix = prefix(body.get("messages"));
        if (prefix != null) {
            messages = messages.subList(0, messages.size() - 1);
        }
        return parse(body, messages, prefix, null, null, false, -1);
    }

    /** A last assistant message marked {@code prefix: true}: the start of the reply. */
    private static Prefix prefix(JsonNode messages) {
        JsonNode last = messages.get(messages.size() - 1);
        JsonNode flag = last.get("prefix");
        if (flag == null || flag.isNull()) {
            return null;
        }
        if (!flag.isBoolean()) {
            throw ApiError.invalid("messages[" + (messages.size() - 1) + "].prefix", "prefix must be true or false");
        }
        if (!flag.asBoolean()) {
            return null;
        }
        if (!last.path("role").asString("").equals("assistant") || last.has("tool_calls") && !last.get("tool_calls").isNull()) {
            throw ApiError.invalid("messages[" + (messages.size() - 1) + "].prefix",
                    "only a last assistant message without tool calls can be a prefix");
        }
        JsonNode reasoning = last.get("reasoning_content");
        if (reasoning != null && !reasoning.isNull() && !reasoning.isString()) {
            throw ApiError.invalid("messages[" + (messages.size() - 1) + "].reasoning_content", "reasoning_content must be a string");
        }
        return new Prefix(content(last.get("content"), "messages[" + (messages.size() - 1) + "].content"),
                reasoning == null || reasoning.isNull() ? null : reasoning.asString());
    }

    /** Reads and checks the body of a text completion ({@code /v1/completions}); OpenAI's default of 16 tokens. */
    public static CompletionRequest text(JsonNode body) {
        requireObject(body);
        JsonNode prompt = body.get("prompt");
        if (prompt == null || !prompt.isString()) {
            throw ApiError.invalid("prompt", "prompt must be a string");
        }
        if (bool(body, "logprobs", false) || body.path("logprobs").isNumber()) {
            throw ApiError.unprocessable("logprobs", "logprobs are not supported yet");
        }
        return parse(body, null, null, prompt.asString(), string(body, "suffix"), bool(body, "echo", false), 16);
    }

    private static void requireObject(JsonNode body) {
        if (body == null || !body.isObject()) {
            throw ApiError.invalid(null, "the request body must be a JSON object");
        }
    }

    private static CompletionRequest parse(JsonNode body, List<ChatMessage> messages, Prefix prefix, String prompt,
            String suffix, boolean echo, int defaultMaxTokens) {
        int n = integer(body, "n", 1);
        if (n < 1 || n > MAX_CHOICES) {
            throw ApiError.unprocessable("n", "n must be between 1 and " + MAX_CHOICES + ", not " + n);
        }
        JsonNode format = body.get("response_format");
        boolean json = false;
        JsonSchema schema = null;
        if (format != null && !format.isNull()) {
            String type = format.path("type").asString("");
            switch (type) {
                case "text" -> { }
                case "json_object" -> json = true;
                case "json_schema" -> {
                    json = true;
                    schema = schema(format.get("json_schema"));
                }
                default -> throw ApiError.invalid("response_format",
                        "response_format.type must be text, json_object or json_schema");
            }
        }
        Tools tools = messages == null ? null : tools(body.get("tools"), body.get("tool_choice"));
        if (tools != null && tools.required() && prefix != null) {
            throw ApiError.invalid("tool_choice", "a reply that must call a function cannot also continue a prefix");
        }
        if (tools != null && tools.required() && json) {
            throw ApiError.invalid("response_format", "a required function call's arguments follow its parameters:"
                    + " leave out response_format");
        }
        int topLogprobs = -1;
        if (messages != null && bool(body, "logprobs", false)) {
            topLogprobs = integer(body, "top_logprobs", 0);
            if (topLogprobs < 0 || topLogprobs > 20) {
                throw ApiError.unprocessable("top_logprobs", "top_logprobs must be between 0 and 20, not " + topLogprobs);
            }
        } else if (messages != null && body.has("top_logprobs") && !body.get("top_logprobs").isNull()) {
            throw ApiError.invalid("top_logprobs", "top_logprobs needs logprobs: true");
        }
        int maxTokens = integer(body, "max_tokens", integer(body, "max_completion_tokens", defaultMaxTokens));
        if (maxTokens == 0 || maxTokens < -1) {
            throw ApiError.unprocessable("max_tokens", "max_tokens must be at least 1, not " + maxTokens);
        }
        float temperature = number(body, "temperature", 1, 0, 2);
        float topP = number(body, "top_p", 1, 0, 1);
        float presence = number(body, "presence_penalty", 0, -2, 2);
        float frequency = number(body, "frequency_penalty", 0, -2, 2);
        JsonNode seedNode = body.get("seed");
        long seed;
        if (seedNode == null || seedNode.isNull()) {
            seed = System.nanoTime();
        } else if (seedNode.isIntegralNumber() && seedNode.canConvertToLong()) {
            seed = seedNode.asLong();
        } else {
            throw ApiError.invalid("seed", "seed must be an integer");
        }
        // OpenAI's sampling: temperature and top-p only (no top-k or min-p cut), penalties over the whole reply.
        SamplerSettings sampler = new SamplerSettings(temperature, 0, topP, 0, 1, -1, presence, frequency, seed);
        JsonNode streamOptions = body.get("stream_options");
        boolean includeUsage = streamOptions != null && !streamOptions.isNull() && bool(streamOptions, "include_usage", false);
        return new CompletionRequest(string(body, "model"), messages, prompt, suffix, echo, n, bool(body, "stream", false),
                includeUsage, maxTokens,
                sampler, stops(body.get("stop")), thinking(body.get("thinking")), json, schema, tools, prefix, topLogprobs);
    }

    /** {@code tools} and {@code tool_choice}; null when there are none or the choice is {@code none}. */
    private static Tools tools(JsonNode node, JsonNode choice) {
        List<Tool> offered = new ArrayList<>();
        java.util.Map<String, JsonNode> parameters = new java.util.HashMap<>();
        if (node != null && !node.isNull()) {
            if (!node.isArray() || node.size() > MAX_TOOLS) {
                throw ApiError.invalid("tools", "tools must be an array of up to " + MAX_TOOLS + " functions");
            }
            for (int i = 0; i < node.size(); i++) {
                String where = "tools[" + i + "]";
                JsonNode tool = node.get(i);
                if (!tool.isObject() || !tool.path("type").asString("").equals("function") || !tool.path("function").isObject()) {
                    throw ApiError.invalid(where, where + " must be {\"type\": \"function\", \"function\": {...}}");
                }
                JsonNode function = tool.get("function");
                String name = function.path("name").asString("");
                if (!name.matches("[A-Za-z0-9_-]{1,64}")) {
                    throw ApiError.invalid(where + ".function.name", where + ".function.name must be 1 to 64 letters, digits, _ or -");
                }
                if (parameters.containsKey(name)) {
                    throw ApiError.invalid(where + ".function.name", "two functions are named " + name);
                }
                JsonNode description = function.get("description");
                if (description != null && !description.isNull() && !description.isString()) {
                    throw ApiError.invalid(where + ".function.description", where + ".function.description must be a string");
                }
                JsonNode schema = function.get("parameters");
                if (schema == null || schema.isNull()) {
                    schema = Server.JSON.createObjectNode().put("type", "object").set("properties", Server.JSON.createObjectNode());
                } else if (!schema.isObject()) {
                    throw ApiError.invalid(where + ".function.parameters", where + ".function.parameters must be a JSON schema object");
                }
                parameters.put(name, schema);
                offered.add(new Tool(name, description == null || description.isNull() ? "" : description.asString(),
                        Server.JSON.writeValueAsString(schema)));
            }
        }
        String mode = offered.isEmpty() ? "none" : "auto";
        String named = null;
        if (choice != null && !choice.isNull()) {
            if (choice.isString() && List.of("none", "auto", "required").contains(choice.asString())) {
                mode = choice.asString();
            } else if (choice.isObject() && choice.path("function").path("name").isString()) {
                mode = "required";
                named = choice.get("function").get("name").asString();
            } else {
                throw ApiError.invalid("tool_choice", "tool_choice must be none, auto, required"
                        + " or {\"type\": \"function\", \"function\": {\"name\": ...}}");
            }
        }
        if (mode.equals("none")) {
            return null;
        }
        if (offered.isEmpty()) {
            throw ApiError.invalid("tool_choice", "tool_choice " + mode + " needs tools");
        }
        if (named == null && mode.equals("required") && offered.size() == 1) {
            named = offered.getFirst().name(); // one function to choose from: that one
        }
        if (named != null && !parameters.containsKey(named)) {
            throw ApiError.invalid("tool_choice", "tool_choice names " + named + ", which is not among the tools");
        }
        if (!mode.equals("required")) {
            return new Tools(offered, false, null, Map.of());
        }
        Map<String, JsonSchema> arguments = new LinkedHashMap<>();
        for (Tool tool : offered) {
            if (named == null || tool.name().equals(named)) {
                try {
                    arguments.put(tool.name(), JsonSchema.compile(parameters.get(tool.name())));
                } catch (IllegalArgumentException e) {
                    throw ApiError.invalid("tools", "the parameters of " + tool.name() + " cannot be enforced: "
                            + e.getMessage());
                }
            }
        }
        String name = named;
        Tool forced = named == null ? null : offered.stream().filter(t -> t.name().equals(name)).findFirst().orElseThrow();
        return new Tools(offered, true, forced, arguments);
    }

    /** {@code response_format.json_schema}: {@code {name, schema, strict, description}}, its schema compiled. */
    private static JsonSchema schema(JsonNode format) {
        String where = "response_format.json_schema";
        if (format == null || !format.isObject()) {
            throw ApiError.invalid(where, where + " must be an object with a name and a schema");
        }
        JsonNode name = format.get("name");
        if (name == null || !name.isString() || !name.asString().matches("[A-Za-z0-9_-]{1,64}")) {
            throw ApiError.invalid(where + ".name", where + ".name must be 1 to 64 letters, digits, _ or -");
        }
        JsonNode schema = format.get("schema");
        if (schema == null || schema.isNull()) {
            return null; // no schema: any object, as with json_object
        }
        try {
            return JsonSchema.compile(schema);
        } catch (IllegalArgumentException e) {
            throw ApiError.invalid(where + ".schema", "invalid JSON schema: " + e.getMessage());
        }
    }

    private static List<ChatMessage> messages(JsonNode node) {
        if (node == null || !node.isArray()) {
            throw ApiError.invalid("messages", "messages must be an array of messages");
        }
        if (node.isEmpty()) {
            throw ApiError.invalid("messages", "messages must not be empty");
        }
        List<ChatMessage> out = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode m = node.get(i);
            String where = "messages[" + i + "]";
            if (!m.isObject()) {
                throw ApiError.invalid(where, where + " must be an object");
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isString() || !ROLES.contains(role.asString())) {
                throw ApiError.invalid(where + ".role", where + ".role must be one of system, user, assistant, tool");
            }
            out.add(new ChatMessage(role.asString(), content(m.get("content"), where + ".content"),
                    role.asString().equals("assistant") ? toolCalls(m.get("tool_calls"), where + ".tool_calls") : List.of()));
        }
        return out;
    }

    /** An assistant message's {@code tool_calls}: each {@code {id, type: "function", function: {name, arguments}}}. */
    private static List<ToolCall> toolCalls(JsonNode node, String where) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (!node.isArray()) {
            throw ApiError.invalid(where, where + " must be an array of calls");
        }
        List<ToolCall> calls = new ArrayList<>();
        for (int i = 0; i < node.size(); i++) {
            JsonNode call = node.get(i);
            JsonNode function = call.path("function");
            if (!function.path("name").isString() || !function.path("arguments").isString()) {
                throw ApiError.invalid(where + "[" + i + "]", where + "[" + i
                        + "] must be {\"id\", \"type\": \"function\", \"function\": {\"name\", \"arguments\": a JSON string}}");
            }
            calls.add(new ToolCall(call.path("id").asString(""), function.get("name").asString(),
                    function.get("arguments").asString()));
        }
        return calls;
    }

    /** A message's text: a string, null, or an array of text parts. */
    private static String content(JsonNode content, String where) {
        if (content == null || content.isNull()) {
            return "";
        }
        if (content.isString()) {
            return content.asString();
        }
        if (content.isArray()) {
            StringBuilder text = new StringBuilder();
            for (JsonNode part : content) {
                if (!part.path("type").asString("").equals("text") || !part.path("text").isString()) {
                    throw ApiError.unprocessable(where, where + " may only hold text parts ({\"type\": \"text\", \"text\": ...})");
                }
                text.append(part.get("text").asString());
            }
            return text.toString();
        }
        throw ApiError.invalid(where, where + " must be a string or an array of text parts");
    }

    private static List<String> stops(JsonNode node) {
        if (node == null || node.isNull()) {
            return List.of();
        }
        if (node.isString()) {
            return List.of(node.asString());
        }
        if (!node.isArray() || node.size() > 16) {
            throw ApiError.invalid("stop", "stop must be a string or an array of up to 16 strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode s : node) {
            if (!s.isString()) {
                throw ApiError.invalid("stop", "stop must be a string or an array of up to 16 strings");
            }
            out.add(s.asString());
        }
        return out;
    }

    private static Boolean thinking(JsonNode node) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = node.path("type").asString("");
        return switch (type) {
            case "enabled" -> true;
            case "disabled" -> false;
            default -> throw ApiError.invalid("thinking", "thinking.type must be \"enabled\" or \"disabled\"");
        };
    }

    private static String string(JsonNode body, String field) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (!v.isString()) {
            throw ApiError.invalid(field, field + " must be a string");
        }
        return v.asString();
    }

    private static boolean bool(JsonNode body, String field, boolean fallback) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isBoolean()) {
            throw ApiError.invalid(field, field + " must be true or false");
        }
        return v.asBoolean();
    }

    private static int integer(JsonNode body, String field, int fallback) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw ApiError.invalid(field, field + " must be an integer");
        }
        return v.asInt();
    }

    private static float number(JsonNode body, String field, float fallback, float min, float max) {
        JsonNode v = body.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        if (!v.isNumber()) {
            throw ApiError.invalid(field, field + " must be a number");
        }
        double x = v.asDouble();
        if (!(x >= min && x <= max)) {
            throw ApiError.unprocessable(field, field + " must be between " + fmt(min) + " and " + fmt(max) + ", not " + v);
        }
        return (float) x;
    }

    private static String fmt(float x) {
        return x == Math.rint(x) ? Integer.toString((int) x) : Float.toString(x);
    }
}
