package dev.fathom.cli;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.testing.LlamaCpp;
import dev.fathom.model.testing.TestModels;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/** The real launcher and jar, in a real process: what a user types at a terminal. */
class LauncherIT {
    private static final Path ROOT = LlamaCpp.referenceDir().getParent();
    private static final Path MODEL = TestModels.get(Spec.qwen2(GgmlType.Q8_0));

    /** Whether SIGINT is ignored in this JVM, as it is in the processes it starts; putting back what was there. */
    private static boolean sigintIgnoredHere() {
        sun.misc.Signal interrupt = new sun.misc.Signal("INT");
        sun.misc.SignalHandler previous = sun.misc.Signal.handle(interrupt, signal -> { });
        sun.misc.Signal.handle(interrupt, previous);
        return previous == sun.misc.SignalHandler.SIG_IGN;
    }

    /** A running fathom process whose output is collected as it comes. */
    static final class Running implements AutoCloseable {
        final Process process;
        final StringBuffer out = new StringBuffer();
        final StringBuffer err = new StringBuffer();

        Running(String... args) throws IOException {
            String[] command = new String[args.length + 1];
            command[0] = ROOT.resolve("fathom").toString();
            System.arraycopy(args, 0, command, 1, args.length);
            process = new ProcessBuilder(command).start();
            collect(process.getInputStream(), out);
            collect(process.getErrorStream(), err);
        }

        private static void collect(InputStream in, StringBuffer into) {
            Thread.ofVirtual().start(() -> {
                try {
                    byte[] buffer = new byte[4096];
                    for (int n; (n = in.read(buffer)) > 0; ) {
                        into.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
                    }
                } catch (IOException e) {
                    // the process ended
                }
            });
        }

        void type(String line) throws IOException {
            OutputStream in = process.getOutputStream();
            in.write((line + "\n").getBytes(StandardCharsets.UTF_8));
            in.flush();
        }

        void await(StringBuffer stream, Predicate<String> condition, String what) throws InterruptedException {
            long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (!condition.test(stream.toString())) {
                if (System.nanoTime() > deadline || !process.isAlive() && !condition.test(stream.toString())) {
                    throw new AssertionError("timed out waiting for " + what + "\nstdout: " + out + "\nstderr: " + err);
                }
                Thread.sleep(20);
            }
        }

        int exit() throws InterruptedException {
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            return process.exitValue();
        }

        @Override
        public void close() {
            process.destroyForcibly();
        }
    }

    private static int count(String text, String part) {
        return (text.length() - text.replace(part, "").length()) / part.length();
    }

    @Test
    void theLauncherRunsTheCommands() throws Exception {
        try (Running help = new Running("--help")) {
            assertThat(help.exit()).isZero();
            assertThat(help.out.toString()).contains("run").contains("chat").contains("bench");
        }
        try (Running run = new Running("run", "-m", MODEL.toString(), "-p", "Hello", "-n", "4", "--temp", "0")) {
            assertThat(run.exit()).isZero();
            assertThat(run.err.toString()).contains("generation:");
        }
    }

    @Test
    void aChatKeepsItsTurnsAndObeysItsCommands() throws Exception {
        try (Running chat = new Running("chat", "-m", MODEL.toString(), "--temp", "0", "-n", "8")) {
            chat.await(chat.out, o -> o.contains("> "), "the first prompt");
            chat.type("Hello there");
            chat.await(chat.err, e -> count(e, "tokens/s") >= 1, "the first reply");
            chat.await(chat.err, e -> e.contains("cut off at the -n limit]"), "why the reply ended");
            chat.await(chat.out, o -> count(o, "> ") >= 2, "the second prompt");
            assertThat(chat.out.toString()).contains("Thinking:"); // the R1 template opens the reasoning
            chat.type("/reset");
            chat.await(chat.err, e -> e.contains("(conversation cleared)"), "the reset");
            chat.type("Again");
            chat.await(chat.err, e -> count(e, "tokens/s") >= 2, "the second reply");
            chat.type("/exit");
            assertThat(chat.exit()).isZero();
        }
    }

    @Test
    void controlCStopsAReplyWithoutLeaving() throws Exception {
        if (sigintIgnoredHere()) {
            // This JVM was started with SIGINT ignored (a background job of a non-interactive shell,
            // nohup), and so is every process it starts: no Ctrl-C can reach the chat, which says so.
            try (Running chat = new Running("chat", "-m", MODEL.toString())) {
                chat.await(chat.err, e -> e.contains("Ctrl-C cannot stop a reply here"), "the chat to say Ctrl-C cannot reach it");
                chat.type("/exit");
                assertThat(chat.exit()).isZero();
            }
            return;
        }
        try (Running chat = new Running("chat", "-m", MODEL.toString(), "--temp", "0", "-n", "-1", "--ctx", "8192")) {
            chat.await(chat.out, o -> o.contains("> "), "the first prompt");
            chat.type("Write forever");
            chat.await(chat.out, o -> o.contains("Thinking:") && o.length() > 200, "the reply to stream");
            new ProcessBuilder("kill", "-INT", Long.toString(chat.process.pid())).start().waitFor();
            chat.await(chat.err, e -> e.contains("stopped]"), "the reply to stop");
            chat.await(chat.out, o -> count(o, "> ") >= 2, "a new prompt");
            assertThat(chat.process.isAlive()).isTrue();
            chat.type("/exit");
            assertThat(chat.exit()).isZero();
        }
    }
}
