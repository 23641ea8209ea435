package dev.fathom.model.chat;

import java.util.List;

/**
 * The chat format of DeepSeek-R1 and its distills (and DeepSeek-V3's, which differs only in
 * the generation prompt):
 *
 * <pre>
 * BOS system &lt;｜User｜&gt;question &lt;｜Assistant｜&gt;answer&lt;｜end▁of▁sentence｜&gt; &lt;｜User｜&gt;... &lt;｜Assistant｜&gt;&lt;think&gt;\n
 * </pre>
 *
 * The last system message is the system prompt. Earlier assistant replies keep only their text
 * after {@code </think>}: the model does not see its old reasoning. Tool results are wrapped in
 * {@code <｜tool▁outputs▁begin｜>} blocks. Templates published after 2025-02 open a
 * {@code <think>} block in the generation prompt; earlier ones (and V3's) end at
 * {@code <｜Assistant｜>}. An assistant turn's function calls follow its text in
 * {@link ToolSyntax#DEEPSEEK_R1}'s form; the functions a request offers are described at the end
 * of the system prompt (the template itself has no place for them).
 */
public final class DeepSeekR1Template implements ChatTemplate {
    static final String USER = "<｜User｜>";
    static final String ASSISTANT = "<｜Assistant｜>";
    static final String END = "<｜end▁of▁sentence｜>";
    static final String OUTPUTS_BEGIN = "<｜tool▁outputs▁begin｜>";
    static final String OUTPUTS_END = "<｜tool▁outputs▁end｜>";
    static final String OUTPUT_BEGIN = "<｜tool▁output▁begin｜>";
    static final String OUTPUT_END = "<｜tool▁output▁end｜>";

    private final String bosText;
    private final boolean opensThinking;

    /**
     * @param bosText the BOS token's text, which the template writes first
     * @param opensThinking whether the generation prompt opens a {@code <think>} block
     */
    public DeepSeekR1Template(String bosText, boolean opensThinking) {
        this.bosText = bosText;
        this.opensThinking = opensThinking;
    }

    /** Whether a Jinja template is one of this family's. */
    static boolean recognizes(String jinja) {
        return jinja.contains(USER) && jinja.contains(ASSISTANT) && jinja.contains(END);
    }

    /** The renderer for a recognised template. */
    static DeepSeekR1Template of(String jinja, String bosText) {
        return new DeepSeekR1Template(bosText, jinja.contains(ASSISTANT + "<think>\\n"));
    }

    @Override
    public String name() {
        return "deepseek-r1";
    }

    @Override
    public boolean opensThinking() {
        return opensThinking;
    }

    @Override
    public boolean opensThinking(List<ChatMessage> messages) {
        ChatMessage last = ChatTemplate.lastTurn(messages);
        return opensThinking && (last == null || !last.role().equals("tool"));
    }

    /** R1's own form of an empty reasoning: {@code <think>\n\n</think>\n\n}. */
    @Override
    public String closeThinking() {
        return "\n</think>\n\n";
    }

    @Override
    public ToolSyntax toolSyntax() {
        return ToolSyntax.DEEPSEEK_R1;
    }

    @Override
    public String render(List<ChatMessage> messages, List<Tool> tools, boolean addGenerationPrompt) {
        StringBuilder out = new StringBuilder(bosText);
        String system = "";
        for (ChatMessage m : messages) {
            if (m.role().equals("system")) {
                system = m.content();
            }
        }
        out.append(ChatTemplate.withTools(system, tools, toolSyntax()));
        boolean inToolOutputs = false;
        boolean firstOutput = true;
        for (ChatMessage m : messages) {
            switch (m.role()) {
                case "user" -> {
                    inToolOutputs = false;
                    out.append(USER).append(m.content());
                }
                case "assistant" -> {
                    if (!m.toolCalls().isEmpty()) {
                        inToolOutputs = false;
                        out.append(ASSISTANT).append(withoutReasoning(m.content()))
                                .append(ToolSyntax.DEEPSEEK_R1.render(m.toolCalls())).append(END);
                    } else if (inToolOutputs) {
                        out.append(OUTPUTS_END).append(m.content()).append(END);
                        inToolOutputs = false;
                    } else {
                        out.append(ASSISTANT).append(withoutReasoning(m.content())).append(END);
                    }
                }
                case "tool" -> {
                    inToolOutputs = true;
                    out.append(firstOutput ? OUTPUTS_BEGIN + OUTPUT_BEGIN : "\n" + OUTPUT_BEGIN)
                            .append(m.content()).append(OUTPUT_END);
                    firstOutput = false;
                }
                case "system" -> {
                }
                default -> throw new IllegalArgumentException("unknown chat role '" + m.role()
                        + "' (expected system, user, assistant or tool)");
            }
        }
        if (inToolOutputs) {
            out.append(OUTPUTS_END);
        }
        if (addGenerationPrompt && !inToolOutputs) {
            out.append(ASSISTANT);
            if (opensThinking) {
                out.append("<think>\n");
            }
        }
        return out.toString();
    }

    /** The text after the last {@code </think>}: what the template keeps of a past reply. */
    static String withoutReasoning(String content) {
        int at = content.lastIndexOf("</think>");
        return at < 0 ? content : content.substring(at + "</think>".length());
    }
}
