package dev.fathom.model.generate;

import java.util.List;

/**
 * Watches streamed text for stop strings. Text that could still be the start of a stop string
 * is held back until it is known not to be one, so a stop string never reaches the output.
 */
final class StopStrings {
    private final List<String> stops;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    StopStrings(List<String> stops) {
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    boolean stopped() {
        return stopped;
    }

    /** Adds text; returns what can be emitted now. After a stop string, nothing more is emitted. */
    String push(String text) {
        if (stopped) {
            return "";
        }
        held.append(text);
        int earliest = -1;
        for (String s : stops) {
            int at = held.indexOf(s);
            if (at >= 0 && (earliest < 0 || at < earliest)) {
                earliest = at;
            }
        }
        if (earliest >= 0) {
            stopped = true;
            String out = held.substring(0, earliest);
            held.setLength(0);
            return out;
        }
        String all = held.toString();
        int keep = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, all.length()); k > keep; k--) {
                if (all.regionMatches(all.length() - k, s, 0, k)) {
                    keep = k;
                    break;
                }
            }
        }
        String out = held.substring(0, held.length() - keep);
        held.delete(0, held.length() - keep);
        return out;
    }

    /** Whatever is held back, at the end of a generation that did not stop on a stop string. */
    String flush() {
        String out = held.toString();
        held.setLength(0);
        return out;
    }
}
