package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.model.arch.ContextOverflowException;
import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ReasoningParser;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Session;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code fathom chat}: an interactive conversation in the model's chat template. */
@Command(name = "chat", mixinStandardHelpOptions = true,
        description = {"Talk with a model in its chat template. The model's reasoning (<think>) is shown apart from"
                + " its answer.", "Type /reset to start over, /exit to quit; Ctrl-C stops a reply without leaving;"
                + " end a line with \\ to continue it."})
final class ChatCommand implements Callable<Integer> {
    private static final String DIM = "\u001b[2m";
    private static final String RESET = "\u001b[0m";

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SamplingOptions sampling;

    @Option(names = "--system", paramLabel = "TEXT", description = "A system prompt.")
    String system;

    @Option(names = "--color", negatable = true, description = "Dim the reasoning with terminal colours (default: when on a terminal).")
    Boolean color;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        boolean dim = color != null ? color : System.console() != null && !"dumb".equals(System.getenv("TERM"));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        AtomicBoolean generating = new AtomicBoolean();
        AtomicBoolean stop = new AtomicBoolean();
        try (Model model = modelOptions.open();
                Session session = modelOptions.session(model, err);
                Interrupts interrupts = Interrupts.onInterrupt(() -> {
                    if (generating.get()) {
                        stop.set(true);
                    } else {
                        out.println();
                        out.flush();
                        System.exit(130);
                    }
                })) {
            ChatTemplate template = model.chatTemplate();
            Generation generation = sampling.generation();
            err.println("Chatting with " + model.file().path().getFileName() + " (" + model.network().describe()
                    + "), context " + session.contextLength() + " tokens.");
            err.println(interrupts.reachable() ? "/reset starts over, /exit quits, Ctrl-C stops a reply."
                    : "/reset starts over, /exit quits. Ctrl-C cannot stop a reply here: this process was started with"
                            + " SIGINT ignored, as background jobs are.");
            err.flush();
            // While the user types the first message, let the JIT compile the kernels.
            Thread warmUp = Thread.ofPlatform().name("fathom-warm-up").start(() -> model.warmUp(Duration.ofSeconds(3)));
            try {
                converse(in, out, err, dim, model, template, session, generation, generating, stop, warmUp);
            } finally {
                warmUp.interrupt(); // the model closes next: the warm-up must be over by then
                joinUninterruptibly(warmUp);
            }
        }
        return 0;
    }

    private void converse(BufferedReader in, PrintWriter out, PrintWriter err, boolean dim, Model model,
            ChatTemplate template, Session session, Generation generation, AtomicBoolean generating,
            AtomicBoolean stop, Thread warmUp) throws IOException {
        List<ChatMessage> messages = new ArrayList<>();
        if (system != null) {
            messages.add(ChatMessage.system(system));
        }
        while (true) {
            out.print("> ");
            out.flush();
            String line = readMessage(in);
            if (line == null || line.strip().equals("/exit") || line.strip().equals("/quit")) {
                out.println();
                return;
            }
            if (line.strip().equals("/reset")) {
                messages.removeIf(m -> !m.role().equals("system"));
                session.reset();
                err.println("(conversation cleared)");
                err.flush();
                continue;
            }
            if (line.isBlank()) {
                continue;
            }
            joinUninterruptibly(warmUp);
            messages.add(ChatMessage.user(line));
            Display display = new Display(out, dim);
            ReasoningParser parser = new ReasoningParser(template.opensThinking(), display);
            stop.set(false);
            generating.set(true);
            Generation.Result result;
            try {
                int[] tokens = model.chatTokens(template.render(messages, true));
                result = session.generate(tokens, generation, parser::push, stop::get);
            } catch (ContextOverflowException e) {
                messages.removeLast();
                err.println("error: " + e.getMessage() + "; /reset to start a new conversation");
                err.flush();
                continue;
            } catch (RuntimeException e) { // one failed turn does not end the program; the history is kept
                messages.removeLast();
                display.end();
                err.println("error: " + Main.describe(e));
                err.flush();
                continue;
            } finally {
                generating.set(false);
            }
            parser.finish();
            display.end();
            String reply = (template.opensThinking() ? "<think>\n" : "") + result.text();
            messages.add(ChatMessage.assistant(reply));
            Generation.Timings t = result.timings();
            err.printf("%s[%d tokens, %.1f tokens/s%s]%s%n", dim ? DIM : "", t.generatedTokens(),
                    t.generationTokensPerSecond(), ending(result.stopReason()), dim ? RESET : "");
            err.flush();
        }
    }

    /** Why a reply ended, when it is not the model's own choice. */
    private static String ending(Generation.StopReason reason) {
        return switch (reason) {
            case END_OF_GENERATION, STOP_STRING -> "";
            case CANCELLED -> ", stopped";
            case MAX_TOKENS -> ", cut off at the -n limit";
            case CONTEXT_FULL -> ", cut off: the context is full; /reset to start over";
        };
    }

    private static void joinUninterruptibly(Thread thread) {
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** One message: a line, or several joined where a line ends with a backslash. Null at end of input. */
    private static String readMessage(BufferedReader in) throws IOException {
        StringBuilder message = new StringBuilder();
        String line;
        while ((line = in.readLine()) != null) {
            if (line.endsWith("\\")) {
                message.append(line, 0, line.length() - 1).append('\n');
                continue;
            }
            return message.append(line).toString();
        }
        return message.isEmpty() ? null : message.toString();
    }

    /** Shows reasoning dimmed (or under a header) and the answer plainly. */
    private static final class Display implements ReasoningParser.Sink {
        private final PrintWriter out;
        private final boolean dim;
        private boolean inReasoning;
        private boolean answered;
        private boolean reasoned;

        Display(PrintWriter out, boolean dim) {
            this.out = out;
            this.dim = dim;
        }

        @Override
        public void reasoning(String text) {
            if (!inReasoning) {
                out.print(dim ? DIM + "Thinking…\n" : "Thinking:\n");
                inReasoning = true;
                reasoned = true;
            }
            out.print(text);
            out.flush();
        }

        @Override
        public void content(String text) {
            if (inReasoning) {
                out.print(dim ? RESET + "\n" : "\n\nAnswer:\n");
                inReasoning = false;
            }
            if (!answered && reasoned) {
                text = text.stripLeading();
                if (text.isEmpty()) {
                    return;
                }
            }
            answered = true;
            out.print(text);
            out.flush();
        }

        void end() {
            if (inReasoning && dim) {
                out.print(RESET);
            }
            out.println();
            out.flush();
        }
    }
}
