package dev.fathom.cli;

/** Ctrl-C handling for interactive commands. */
final class Interrupts {
    private Interrupts() {
    }

    /** Runs {@code action} on SIGINT instead of exiting. */
    static void onInterrupt(Runnable action) {
        try {
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> action.run());
        } catch (IllegalArgumentException e) {
            // No SIGINT on this platform: Ctrl-C keeps its default meaning.
        }
    }
}
