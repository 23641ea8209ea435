package dev.fathom.cli;

/** Ctrl-C handling for interactive commands. */
final class Interrupts implements AutoCloseable {
    private final sun.misc.SignalHandler previous;

    private Interrupts(sun.misc.SignalHandler previous) {
        this.previous = previous;
    }

    /** Runs {@code action} on SIGINT instead of exiting, until closed. */
    static Interrupts onInterrupt(Runnable action) {
        try {
            return new Interrupts(sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> action.run()));
        } catch (IllegalArgumentException e) {
            return new Interrupts(null); // no SIGINT on this platform: Ctrl-C keeps its default meaning
        }
    }

    /**
     * Whether Ctrl-C reaches the action. Not when the process was started with SIGINT ignored (a
     * background job of a non-interactive shell, {@code nohup}): the JVM then leaves it ignored and
     * says so only by giving back {@code SIG_IGN} as the former handler.
     */
    boolean reachable() {
        return previous != null && previous != sun.misc.SignalHandler.SIG_IGN;
    }

    /** Gives Ctrl-C back its former meaning. */
    @Override
    public void close() {
        if (previous != null) {
            sun.misc.Signal.handle(new sun.misc.Signal("INT"), previous);
        }
    }
}
