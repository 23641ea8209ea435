package dev.fathom.model.reference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ChatTemplates;
import dev.fathom.model.chat.DeepSeekV31Template;
import dev.fathom.model.testing.LlamaCpp;
import dev.fathom.model.testing.TestModels;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import tools.jackson.databind.JsonNode;

/**
 * The native DeepSeek renderers (R1, V3.1) produce exactly what the model files' own Jinja templates
 * render (through @huggingface/jinja, the engine node-llama-cpp uses), for conversations with
 * system prompts, several turns, reasoning in past replies and tool results.
 */
class ChatTemplateReferenceTest {
    private static final String BOS = "<｜begin▁of▁sentence｜>";

    static final List<List<ChatMessage>> CONVERSATIONS = List.of(
            List.of(ChatMessage.user("What is 12 × 7?")),
            List.of(ChatMessage.system("You are a careful assistant."), ChatMessage.user("Hi!")),
            List.of(ChatMessage.user("Hi"), ChatMessage.assistant("<think>\nThe user greets me.\n</think>\n\nHello! How can I help?"),
                    ChatMessage.user("Tell me a joke."), ChatMessage.assistant("Why did the whale cross the ocean?"),
                    ChatMessage.user("Why?")),
            List.of(ChatMessage.system("first"), ChatMessage.user("a"), ChatMessage.system("second wins"),
                    ChatMessage.user("b")),
            List.of(ChatMessage.user("weather in Paris?"), ChatMessage.tool("{\"temp\": 21}"),
                    ChatMessage.tool("{\"sky\": \"clear\"}"), ChatMessage.assistant("It is 21 °C and clear."),
                    ChatMessage.user("and tomorrow?"), ChatMessage.tool("{\"temp\": 18}")),
            List.of(ChatMessage.user("多语言: 你好 🐋\nline two"), ChatMessage.assistant("<think>a</think>b</think>c")));

    @ParameterizedTest
    @ValueSource(strings = {"deepseek-ai-DeepSeek-R1-Distill-Qwen-32B", "deepseek-ai-DeepSeek-R1-Distill-Llama-8B"})
    void nativeRenderingMatchesTheJinjaTemplate(String name) throws IOException {
        String jinja = TestModels.template(name);
        assertRendersAsJinja(ChatTemplates.forJinja(jinja, BOS), jinja, Map.of("enable_thinking", true), name);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void theV31RendererMatchesItsJinjaTemplateInBothModes(boolean thinking) throws IOException {
        String jinja = TestModels.template("deepseek-ai-DeepSeek-V3.1");
        assertThat(ChatTemplates.forJinja(jinja, BOS)).isInstanceOf(DeepSeekV31Template.class);
        assertRendersAsJinja(new DeepSeekV31Template(BOS, thinking), jinja, Map.of("thinking", thinking),
                "V3.1, thinking " + thinking);
    }

    /** Every conversation, with and without the generation prompt, as the Jinja template renders it with {@code extra}. */
    private static void assertRendersAsJinja(ChatTemplate template, String jinja, Map<String, Object> extra, String label) {
        LlamaCpp reference = new LlamaCpp();
        for (List<ChatMessage> conversation : CONVERSATIONS) {
            for (boolean generationPrompt : new boolean[] {true, false}) {
                reference.add("template", null, "template", jinja, "messages", json(conversation),
                        "add_generation_prompt", generationPrompt, "bos_token", BOS,
                        "eos_token", "<｜end▁of▁sentence｜>", "extra", extra);
            }
        }
        List<JsonNode> answers = reference.run();
        int i = 0;
        for (List<ChatMessage> conversation : CONVERSATIONS) {
            for (boolean generationPrompt : new boolean[] {true, false}) {
                assertThat(template.render(conversation, generationPrompt))
                        .as("%s, generation prompt %s: %s", label, generationPrompt, conversation)
                        .isEqualTo(answers.get(i++).get("text").asString());
            }
        }
    }

    private static List<Map<String, Object>> json(List<ChatMessage> conversation) {
        return conversation.stream().map(m -> {
            Map<String, Object> message = new LinkedHashMap<>();
            message.put("role", m.role());
            message.put("content", m.content());
            return message;
        }).toList();
    }
}
