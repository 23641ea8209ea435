package dev.fathom.model.chat;

/** Finds the native renderer for a model file's Jinja chat template. */
public final class ChatTemplates {
    private ChatTemplates() {
    }

    /**
     * The renderer for {@code jinja} (the GGUF's {@code tokenizer.chat_template}), or throws
     * with a message that says which families are supported.
     */
    public static ChatTemplate forJinja(String jinja, String bosText) {
        if (jinja == null || jinja.isBlank()) {
            throw new UnsupportedOperationException("the model file has no chat template (tokenizer.chat_template);"
                    + " use plain completion instead");
        }
        if (DeepSeekV31Template.recognizes(jinja)) {
            return new DeepSeekV31Template(bosText, true); // thinking, as llama.cpp's server asks by default
        }
        if (DeepSeekR1Template.recognizes(jinja)) {
            return DeepSeekR1Template.of(jinja, bosText);
        }
        throw new UnsupportedOperationException("the model's chat template is not one Fathom renders"
                + " (supported: DeepSeek R1/V3, V3.1); use plain completion instead");
    }
}
