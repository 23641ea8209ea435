package dev.fathom.model.chat;

import java.util.List;
import java.util.Objects;

/**
 * One turn of a conversation: {@code system}, {@code user}, {@code assistant} or {@code tool}. An
 * assistant turn may carry the function calls it made.
 */
public record ChatMessage(String role, String content, List<ToolCall> toolCalls) {
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
        toolCalls = List.copyOf(toolCalls);
        if (!toolCalls.isEmpty() && !role.equals("assistant")) {
            throw new IllegalArgumentException("only an assistant turn makes tool calls, not a " + role + " turn");
        }
    }

    public ChatMessage(String role, String content) {
        this(role, content, List.of());
    }

    public static ChatMessage system(String content) {
        return new ChatMessage("system", content);
    }

    public static ChatMessage user(String content) {
        return new ChatMessage("user", content);
    }

    public static ChatMessage assistant(String content) {
        return new ChatMessage("assistant", content);
    }

    /** An assistant turn that calls functions, after {@code content} (often empty). */
    public static ChatMessage assistant(String content, List<ToolCall> calls) {
        return new ChatMessage("assistant", content, calls);
    }

    public static ChatMessage tool(String content) {
        return new ChatMessage("tool", content);
    }
}
