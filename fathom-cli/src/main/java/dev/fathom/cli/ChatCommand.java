package dev.fathom.cli;

import dev.fathom.model.Model;
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
        try (Model model = modelOptions.open();
                Session session = modelOptions.session(model)) {
            ChatTemplate template = model.chatTemplate();
            Generation generation = sampling.generation();
            List<ChatMessage> messages = new ArrayList<>();
            if (system != null) {
                messages.add(ChatMessage.system(system));
            }
            AtomicBoolean generating = new AtomicBoolean();
            AtomicBoolean stop = new AtomicBoolean();
            Interrupts.onInterrupt(() -> {
                if (generating.get()) {
                    stop.set(true);
                } else {
                    out.println();
                    out.flush();
                    System.exit(130);
                }
            });
            // While the user types the first message, let the JIT compile the kernels.
            Thread warmUp = Thread.ofPlatform().name("fathom-warm-up").start(() -> model.warmUp(java.time.Duration.ofSeconds(3)));
            err.println("Chatting with " + model.gguf().path().getFileName() + " (" + model.network().describe() + ").");
            err.println("/reset starts over, /exit quits, Ctrl-C stops a reply.");
            err.flush();
            while (true) {
                out.print("> ");
                out.flush();
                String line = readMessage(in);
                if (line == null || line.strip().equals("/exit") || line.strip().equals("/quit")) {
                    out.println();
                    return 0;
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
                try {
                    warmUp.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return 130;
                }
                messages.add(ChatMessage.user(line));
                int[] tokens = model.chatTokens(template.render(messages, true));
                Display display = new Display(out, dim);
                ReasoningParser parser = new ReasoningParser(template.opensThinking(), display);
                stop.set(false);
                generating.set(true);
                Generation.Result result;
                try {
                    result = session.generate(tokens, generation, parser::push, stop::get);
                } catch (dev.fathom.model.arch.ContextOverflowException e) {
                    messages.removeLast();
                    err.println("error: " + e.getMessage() + "; /reset to start a new conversation");
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
                        t.generationTokensPerSecond(), result.stopReason() == Generation.StopReason.CANCELLED
                                ? ", stopped" : "", dim ? RESET : "");
                err.flush();
            }
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
