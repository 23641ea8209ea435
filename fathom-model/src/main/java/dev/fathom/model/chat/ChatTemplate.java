package dev.fathom.model.chat;

import java.util.List;

/**
 * Turns a conversation into the prompt text a model was trained on. Renderers are native Java
 * for the families Fathom knows, each checked in tests against what the model file's own Jinja
 * template renders for the same conversation.
 */
public interface ChatTemplate {
    /** A short name of the family, for messages. */
    String name();

    /**
     * The prompt for {@code messages}; with {@code addGenerationPrompt} it ends where the
     * assistant's next reply begins. Starts with the BOS text if the family's template does;
     * callers that let the tokenizer add BOS strip it (see {@link #stripBos}).
     */
    default String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, List.of(), addGenerationPrompt);
    }

    /**
     * The prompt for {@code messages}, with {@code tools} described in the system prompt (none:
     * the prompt as the family's own template writes it).
     */
    String render(List<ChatMessage> messages, List<Tool> tools, boolean addGenerationPrompt);

    /** Whether a generation after a user's turn starts inside a {@code <think>} block that the prompt opened. */
    boolean opensThinking();

    /**
     * Whether the reply to {@code messages} starts inside a {@code <think>} block: after a user's
     * turn; not after tool results, where the model goes on without a new generation prompt.
     */
    boolean opensThinking(List<ChatMessage> messages);

    /** What closes an opened {@code <think>} block at once, leaving the reasoning empty (for a reply that must start with a call). */
    default String closeThinking() {
        return "</think>";
    }

    /** How this family writes function calls. */
    ToolSyntax toolSyntax();

    /** The last turn that is not a system message, or null. */
    static ChatMessage lastTurn(List<ChatMessage> messages) {
        for (int i = messages.size() - 1; i >= 0; i--) {
            if (!messages.get(i).role().equals("system")) {
                return messages.get(i);
            }
        }
        return null;
    }

    /** {@code system} with the tools' section after it (a blank line between), or as it is without tools. */
    static String withTools(String system, List<Tool> tools, ToolSyntax syntax) {
        if (tools.isEmpty()) {
            return system;
        }
        return (system.isEmpty() ? "" : system + "\n\n") + syntax.describe(tools);
    }

    /**
     * This template with the reasoning mode switched on or off, for families that have both
     * (DeepSeek-V3.1); families that always reason (R1) return themselves.
     */
    default ChatTemplate withThinking(boolean thinking) {
        return this;
    }

    /** {@code prompt} without a leading {@code bosText}, so that the tokenizer's own BOS is not doubled. */
    static String stripBos(String prompt, String bosText) {
        return bosText != null && !bosText.isEmpty() && prompt.startsWith(bosText) ? prompt.substring(bosText.length()) : prompt;
    }
}
