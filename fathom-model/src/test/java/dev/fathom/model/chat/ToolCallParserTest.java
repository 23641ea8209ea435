package dev.fathom.model.chat;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Function calls are found in a reply however its text is cut into pieces: the content before
 * them, each call's name and its arguments come out the same as from the reply read whole.
 */
class ToolCallParserTest {
    enum Family {
        R1(ToolSyntax.DEEPSEEK_R1), V31(ToolSyntax.DEEPSEEK_V31);

        final ToolSyntax syntax;

        Family(ToolSyntax syntax) {
            this.syntax = syntax;
        }
    }

    /** What a parser reported. */
    private static final class Heard implements ToolCallParser.Sink {
        final StringBuilder content = new StringBuilder();
        final List<String> names = new ArrayList<>();
        final List<StringBuilder> arguments = new ArrayList<>();

        @Override
        public void content(String text) {
            content.append(text);
        }

        @Override
        public void callStarted(int index, String name) {
            assertThat(index).isEqualTo(names.size());
            names.add(name);
            arguments.add(new StringBuilder());
        }

        @Override
        public void arguments(int index, String fragment) {
            arguments.get(index).append(fragment);
        }

        List<ToolCall> calls() {
            List<ToolCall> out = new ArrayList<>();
            for (int i = 0; i < names.size(); i++) {
                out.add(new ToolCall("call_" + i, names.get(i), arguments.get(i).toString()));
            }
            return out;
        }
    }

    private static final List<ToolCall> CALLS = List.of(
            new ToolCall("call_0", "get_weather", "{\"city\": \"Paris\", \"note\": \"a ``` fence\\n\"}"),
            new ToolCall("call_1", "get_time", "{}"));

    @ParameterizedTest
    @EnumSource(Family.class)
    void callsAreFoundWhereverTheTextIsCut(Family family) {
        String reply = "Let me look that up. <tool> is not a marker." + family.syntax.render(CALLS);
        for (int cut = 0; cut <= reply.length(); cut++) {
            for (int step : new int[] {1, 3, 7}) {
                Heard heard = new Heard();
                ToolCallParser parser = new ToolCallParser(family.syntax, heard);
                parser.push(reply.substring(0, cut));
                for (int i = cut; i < reply.length(); i += step) {
                    parser.push(reply.substring(i, Math.min(reply.length(), i + step)));
                }
                parser.finish();
                assertThat(heard.content.toString()).isEqualTo("Let me look that up. <tool> is not a marker.");
                assertThat(heard.calls()).isEqualTo(CALLS);
                assertThat(parser.calls()).isEqualTo(2);
            }
        }
    }

    @org.junit.jupiter.api.Test
    void theDistillsMayCallInTheJsonBlocksOfTheirBaseModels() {
        String reply = "Checking. <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
                + "<tool_call>{\"name\": \"get_time\", \"arguments\": \"{}\"}</tool_call><tool_call>not json</tool_call>";
        for (int cut = 0; cut <= reply.length(); cut++) {
            Heard heard = new Heard();
            ToolCallParser parser = new ToolCallParser(ToolSyntax.DEEPSEEK_R1, heard);
            parser.push(reply.substring(0, cut));
            parser.push(reply.substring(cut));
            parser.finish();
            assertThat(heard.calls()).containsExactly(new ToolCall("call_0", "get_weather", "{\"city\":\"Paris\"}"),
                    new ToolCall("call_1", "get_time", "{}"));
            assertThat(heard.content.toString()).isEqualTo("Checking. <tool_call>not json</tool_call>");
        }
        Heard v31 = new Heard();
        ToolCallParser parser = new ToolCallParser(ToolSyntax.DEEPSEEK_V31, v31);
        parser.push(reply);
        parser.finish();
        assertThat(v31.calls()).isEmpty(); // V3.1 writes its own format only
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void aForcedCallThatEndsWithItsArgumentsIsKept(Family family) {
        Heard heard = new Heard();
        ToolCallParser parser = new ToolCallParser(family.syntax, heard);
        parser.push(family.syntax.prefix("get_time"));
        parser.push("{\"zone\": ");
        parser.push("\"UTC\"}");
        parser.finish();
        assertThat(heard.calls()).containsExactly(new ToolCall("call_0", "get_time", "{\"zone\": \"UTC\"}"));
        assertThat(heard.content.toString()).isEmpty();
    }

    @ParameterizedTest
    @EnumSource(Family.class)
    void textThatOnlyLooksLikeTheStartOfAMarkerIsContent(Family family) {
        Heard heard = new Heard();
        ToolCallParser parser = new ToolCallParser(family.syntax, heard);
        String almost = family.syntax.sectionStart().substring(0, 4);
        parser.push("plain " + almost);
        assertThat(heard.content.toString()).isEqualTo("plain "); // held back: it may be a marker
        parser.finish();
        assertThat(heard.content.toString()).isEqualTo("plain " + almost);
        assertThat(heard.calls()).isEmpty();
    }
}
