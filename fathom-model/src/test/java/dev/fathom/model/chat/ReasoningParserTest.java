package dev.fathom.model.chat;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class ReasoningParserTest {
    private static String[] parse(boolean opened, String output, Random random) {
        ReasoningParser.Collector parts = new ReasoningParser.Collector();
        ReasoningParser parser = new ReasoningParser(opened, parts);
        int at = 0;
        while (at < output.length()) {
            int n = Math.min(output.length() - at, 1 + random.nextInt(5));
            parser.push(output.substring(at, at + n));
            at += n;
        }
        parser.finish();
        return new String[] {parts.reasoning(), parts.content()};
    }

    @Test
    void reasoningAndAnswerAreSeparatedWhateverThePieces() {
        Random random = new Random(1);
        for (int i = 0; i < 100; i++) {
            assertThat(parse(true, "Let me think.\nOK.</think>\n\nThe answer is 4.", random))
                    .containsExactly("Let me think.\nOK.", "\n\nThe answer is 4.");
            assertThat(parse(false, "  <think>\nhmm</think>Yes", random)).containsExactly("\nhmm", "Yes");
            assertThat(parse(false, "No reasoning <think> here", random)).containsExactly("", "No reasoning <think> here");
            assertThat(parse(true, "cut short while thinking </thi", random)).containsExactly("cut short while thinking </thi", "");
        }
    }
}
