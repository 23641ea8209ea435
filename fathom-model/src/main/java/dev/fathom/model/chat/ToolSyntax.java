package dev.fathom.model.chat;

import java.util.List;

/**
 * How a model family writes function calls: a section of calls, each call its function's name
 * and its arguments (JSON) between markers. The same markers render past calls into a prompt,
 * describe the format to the model, start a call that the server forces, and let a
 * {@link ToolCallParser} find the calls in a reply.
 *
 * @param sectionStart opens the calls
 * @param callStart opens one call; the function's name follows
 * @param nameEnd ends the name; the arguments follow
 * @param argumentsEnd ends the arguments and the call
 * @param separator between two calls
 * @param sectionEnd closes the calls
 * @param jsonBlocks whether replies may also hold {@code <tool_call>{"name": ..., "arguments": ...}</tool_call>}
 *     blocks, the format of Qwen 2.5 (and Hermes): the R1 distills, fine-tuned from Qwen 2.5 and Llama 3.1
 *     models, fall back on it
 */
public record ToolSyntax(String family, String sectionStart, String callStart, String nameEnd, String argumentsEnd,
        String separator, String sectionEnd, boolean jsonBlocks) {

    /** DeepSeek-R1 and V3 (and the R1 distills, whose template writes it): each call's arguments in a json code block. */
    public static final ToolSyntax DEEPSEEK_R1 = new ToolSyntax("deepseek-r1", "<｜tool▁calls▁begin｜>",
            "<｜tool▁call▁begin｜>function<｜tool▁sep｜>", "\n```json\n", "\n```<｜tool▁call▁end｜>", "\n",
            "<｜tool▁calls▁end｜>", true);

    /** DeepSeek-V3.1 and later: the name, a separator token, the arguments. */
    public static final ToolSyntax DEEPSEEK_V31 = new ToolSyntax("deepseek-v3.1", "<｜tool▁calls▁begin｜>",
            "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", "", "<｜tool▁calls▁end｜>", false);

    /** {@code calls} as the model writes them. */
    public String render(List<ToolCall> calls) {
        StringBuilder out = new StringBuilder(sectionStart);
        for (int i = 0; i < calls.size(); i++) {
            ToolCall call = calls.get(i);
            out.append(i > 0 ? separator : "").append(callStart).append(call.name()).append(nameEnd)
                    .append(call.arguments()).append(argumentsEnd);
        }
        return out.append(sectionEnd).toString();
    }

    /** The start of a call of {@code function}, up to where its arguments begin: what a forced call's reply starts with. */
    public String prefix(String function) {
        return sectionStart + callStart + function + nameEnd;
    }

    /**
     * The part of the system prompt that lists {@code tools} and shows the call format, laid out
     * as DeepSeek's models were taught (a "## Tools" section, a "###" heading per function with
     * its description and parameter schema).
     */
    public String describe(List<Tool> tools) {
        StringBuilder out = new StringBuilder("## Tools\nYou can call these functions when they help to answer:\n");
        for (Tool tool : tools) {
            out.append("\n### ").append(tool.name()).append("\nDescription: ").append(tool.description())
                    .append("\n\nParameters: ").append(tool.parameters()).append('\n');
        }
        out.append("\nTo call functions, write exactly:\n")
                .append(sectionStart).append(callStart).append("FUNCTION_NAME").append(nameEnd).append("ARGUMENTS")
                .append(argumentsEnd).append("...").append(sectionEnd).append('\n')
                .append("\nFUNCTION_NAME is one of the functions above, spelt exactly; ARGUMENTS is a JSON object"
                        + " that follows its Parameters schema; further calls follow the first ")
                .append(separator.isEmpty() ? "with nothing in between." : "on new lines.");
        return out.toString();
    }
}
