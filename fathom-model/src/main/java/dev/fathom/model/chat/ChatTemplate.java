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
    String render(List<ChatMessage> messages, boolean addGenerationPrompt);

    /** Whether a generation starts inside a {@code <think>} block that the prompt opened. */
    boolean opensThinking();

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
