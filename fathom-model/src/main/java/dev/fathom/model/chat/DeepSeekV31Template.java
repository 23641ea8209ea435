package dev.fathom.model.chat;

import java.util.List;

/**
 * The chat format of DeepSeek-V3.1 and later, one model with a thinking and a non-thinking mode:
 *
 * <pre>
 * BOS system &lt;｜User｜&gt;question&lt;｜Assistant｜&gt;&lt;think&gt;&lt;/think&gt;answer&lt;｜end▁of▁sentence｜&gt;&lt;｜User｜&gt;...&lt;｜Assistant｜&gt;&lt;think&gt;
 * </pre>
 *
 * The generation prompt opens a {@code <think>} block in thinking mode and closes it at once
 * otherwise; past replies always show an empty one, with their text after the first
 * {@code </think>}. System messages are joined by blank lines. Tool results follow as
 * {@code <｜tool▁output▁begin｜>} blocks, after which the model goes on without a new
 * generation prompt. Function calls follow a turn's text in {@link ToolSyntax#DEEPSEEK_V31}'s
 * form; the functions a request offers are described at the end of the system prompt.
 */
public final class DeepSeekV31Template implements ChatTemplate {
    private static final String USER = DeepSeekR1Template.USER;
    private static final String ASSISTANT = DeepSeekR1Template.ASSISTANT;
    private static final String END = DeepSeekR1Template.END;

    private final String bosText;
    private final boolean thinking;

    /**
     * @param bosText the BOS token's text, which the template writes first
     * @param thinking whether replies start by reasoning (the template's {@code thinking})
     */
    public DeepSeekV31Template(String bosText, boolean thinking) {
        this.bosText = bosText;
        this.thinking = thinking;
    }

    /** Whether a Jinja template is this family's: it closes empty think blocks and knows a thinking mode. */
    static boolean recognizes(String jinja) {
        return DeepSeekR1Template.recognizes(jinja) && jinja.contains("<think></think>") && jinja.contains("thinking");
    }

    @Override
    public String name() {
        return "deepseek-v3.1";
    }

    @Override
    public boolean opensThinking() {
        return thinking;
    }

    @Override
    public ChatTemplate withThinking(boolean enabled) {
        return enabled == thinking ? this : new DeepSeekV31Template(bosText, enabled);
    }

    @Override
    public boolean opensThinking(List<ChatMessage> messages) {
        ChatMessage last = ChatTemplate.lastTurn(messages);
        return thinking && last != null && last.role().equals("user");
    }

    @Override
    public ToolSyntax toolSyntax() {
        return ToolSyntax.DEEPSEEK_V31;
    }

    @Override
    public String render(List<ChatMessage> messages, List<Tool> tools, boolean addGenerationPrompt) {
        StringBuilder out = new StringBuilder(bosText);
        StringBuilder system = new StringBuilder();
        for (ChatMessage m : messages) {
            if (m.role().equals("system")) {
                system.append(system.isEmpty() ? "" : "\n\n").append(m.content());
            }
        }
        out.append(ChatTemplate.withTools(system.toString(), tools, toolSyntax()));
        boolean lastUser = false;
        boolean afterTool = false;
        for (ChatMessage m : messages) {
            switch (m.role()) {
                case "user" -> {
                    afterTool = false;
                    lastUser = true;
                    out.append(USER).append(m.content());
                }
                case "assistant" -> {
                    if (lastUser) {
                        out.append(ASSISTANT).append("<think></think>");
                    }
                    lastUser = false;
                    if (!m.toolCalls().isEmpty()) {
                        afterTool = false;
                        out.append(m.content()).append(ToolSyntax.DEEPSEEK_V31.render(m.toolCalls())).append(END);
                    } else if (afterTool) {
                        out.append(m.content()).append(END);
                        afterTool = false;
                    } else {
                        int at = m.content().indexOf("</think>");
                        out.append(at < 0 ? m.content() : m.content().substring(at + "</think>".length())).append(END);
                    }
                }
                case "tool" -> {
                    lastUser = false;
                    afterTool = true;
                    out.append(DeepSeekR1Template.OUTPUT_BEGIN).append(m.content()).append(DeepSeekR1Template.OUTPUT_END);
                }
                case "system" -> {
                }
                default -> throw new IllegalArgumentException("unknown chat role '" + m.role()
                        + "' (expected system, user, assistant or tool)");
            }
        }
        if (addGenerationPrompt && lastUser && !afterTool) {
            out.append(ASSISTANT).append(thinking ? "<think>" : "<think></think>");
        }
        return out.toString();
    }
}
