package dev.fathom.model.chat;

import java.util.Objects;

/**
 * A function call an assistant turn made: the call's id (which the tool's reply names), the
 * function, and its arguments as the JSON text the model wrote.
 */
public record ToolCall(String id, String name, String arguments) {
    public ToolCall {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(arguments, "arguments");
    }
}
