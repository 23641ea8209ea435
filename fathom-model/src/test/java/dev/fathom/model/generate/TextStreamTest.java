package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TextStreamTest {
    @Test
    void multiByteCharactersSplitAcrossTokensAreNeverEmittedHalfWay() {
        String text = "深度求索 🐋 naïve 👩‍👩‍👧 done";
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        Random random = new Random(5);
        for (int trial = 0; trial < 200; trial++) {
            TextStream stream = new TextStream();
            List<String> pieces = new ArrayList<>();
            int at = 0;
            while (at < bytes.length) {
                int n = Math.min(bytes.length - at, 1 + random.nextInt(4));
                byte[] token = java.util.Arrays.copyOfRange(bytes, at, at + n);
                pieces.add(stream.push(token));
                at += n;
            }
            pieces.add(stream.flush());
            assertThat(pieces).allSatisfy(p -> assertThat(p).doesNotContain("\uFFFD"));
            assertThat(String.join("", pieces)).isEqualTo(text);
        }
    }

    @Test
    void malformedBytesComeOutAsReplacementCharactersAtTheEnd() {
        TextStream stream = new TextStream();
        assertThat(stream.push(new byte[] {'a', (byte) 0xE6, (byte) 0xB7})).isEqualTo("a");
        assertThat(stream.flush()).isEqualTo("\uFFFD");
    }
}
