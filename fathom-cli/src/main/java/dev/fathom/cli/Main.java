package dev.fathom.cli;

import dev.fathom.model.ModelFileException;
import dev.fathom.model.arch.ContextOverflowException;
import java.io.PrintWriter;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code fathom} command. */
@Command(name = "fathom", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Run DeepSeek-class reasoning models on the JVM.",
        subcommands = {RunCommand.class, ChatCommand.class, TokenizeCommand.class, InspectCommand.class,
            BenchCommand.class, QuantizeCommand.class, ConvertCommand.class, ServeCommand.class, TrainCommand.class,
            EvalCommand.class,
            CommandLine.HelpCommand.class})
public final class Main {
    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line; returns the exit code. */
    static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cli = new CommandLine(new Main());
        cli.setOut(out);
        cli.setErr(err);
        cli.setExecutionExceptionHandler((e, commandLine, parsed) -> {
            boolean verbose = false;
            for (CommandLine.ParseResult r = parsed; r != null; r = r.subcommand()) {
                verbose |= r.hasMatchedOption("--verbose");
            }
            return report(e, commandLine.getErr(), verbose);
        });
        try {
            return cli.execute(args);
        } catch (Error e) { // picocli hands only Exceptions to the handler; out of memory is an Error
            return report(e, err, List.of(args).contains("--verbose"));
        }
    }

    private static int report(Throwable e, PrintWriter err, boolean verbose) {
        err.println("error: " + describe(e));
        if (verbose) {
            e.printStackTrace(err);
        }
        err.flush();
        return 1;
    }

    /** One line that says what went wrong, without a stack trace. */
    static String describe(Throwable e) {
        if (e instanceof ModelFileException || e instanceof ContextOverflowException || e instanceof UserError) {
            return e.getMessage();
        }
        if (e instanceof OutOfMemoryError) {
            return "out of memory: " + e.getMessage() + " (try a smaller --ctx, or give the JVM more memory)";
        }
        String message = e.getMessage();
        return (message == null ? e.getClass().getSimpleName() : message) + (e.getCause() != null && e.getCause() != e
                ? " (" + describe(e.getCause()) + ")" : "");
    }

    /** A mistake in how the command was used, reported as its message alone. */
    static final class UserError extends RuntimeException {
        UserError(String message) {
            super(message);
        }
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"fathom " + (v == null ? "dev" : v) + " on Java " + Runtime.version()};
        }
    }
}
