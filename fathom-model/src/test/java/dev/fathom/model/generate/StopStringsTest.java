package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringsTest {
    @Test
    void aStopStringSplitAcrossPiecesIsNeverEmitted() {
        StopStrings stops = new StopStrings(List.of("\nUser:", "###"));
        StringBuilder out = new StringBuilder();
        for (String piece : new String[] {"Hello", " there\n", "Us", "er", ": more"}) {
            out.append(stops.push(piece));
        }
        assertThat(stops.stopped()).isTrue();
        assertThat(out).hasToString("Hello there");
        assertThat(stops.push("anything")).isEmpty();
    }

    @Test
    void textThatOnlyLookedLikeAStopStringIsReleased() {
        StopStrings stops = new StopStrings(List.of("###"));
        assertThat(stops.push("a #")).isEqualTo("a ");
        assertThat(stops.push("#x")).isEqualTo("##x");
        assertThat(stops.push("#")).isEmpty();
        assertThat(stops.flush()).isEqualTo("#");
        assertThat(stops.stopped()).isFalse();
    }

    @Test
    void theEarliestStopStringWins() {
        StopStrings stops = new StopStrings(List.of("world", "lo"));
        assertThat(stops.push("hello world")).isEqualTo("hel");
    }
}
