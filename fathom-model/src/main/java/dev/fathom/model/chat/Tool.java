package dev.fathom.model.chat;

import java.util.Objects;

/**
 * A function the model may call: its name, what it does, and the JSON Schema of its arguments
 * (as JSON text), as a request's {@code tools} list them.
 */
public record Tool(String name, String description, String parameters) {
    public Tool {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(parameters, "parameters");
    }
}
