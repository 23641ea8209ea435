package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.model.chat.ChatMessage;
import dev.fathom.model.generate.Generation;
import dev.fathom.model.generate.Session;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import tools.jackson.databind.json.JsonMapper;

/** {@code fathom run}: complete a prompt, streaming the text. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Generate a continuation of a prompt, streaming it as it comes.",
            "The prompt is raw text (special tokens in it are parsed; BOS first when the model asks for it);"
                + " with --chat it is one user turn in the model's chat template.",
            "Load time and prompt and generation speeds go to stderr."})
final class RunCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SamplingOptions sampling;

    static final class PromptSource {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The prompt.")
        String text;

        @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the prompt from a file.")
        Path file;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    PromptSource prompt;

    @Option(names = "--chat", description = "Apply the model's chat template to the prompt as one user turn.")
    boolean chat;

    @Option(names = "--system", paramLabel = "TEXT", description = "A system prompt (with --chat).")
    String system;

    @Option(names = "--json", description = "Print one JSON object with the prompt and generated ids, the text and the timings.")
    boolean json;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (system != null && !chat) {
            throw new Main.UserError("--system needs --chat: a system prompt is part of the chat template");
        }
        String text = promptText();
        long loadStart = System.nanoTime();
        try (Model model = modelOptions.open()) {
            long loadNanos = System.nanoTime() - loadStart;
            int[] tokens;
            if (chat) {
                List<ChatMessage> messages = new ArrayList<>();
                if (system != null) {
                    messages.add(ChatMessage.system(system));
                }
                messages.add(ChatMessage.user(text));
                tokens = model.chatTokens(model.chatTemplate().render(messages, true));
            } else {
                tokens = model.tokenizer().encode(text, true, true);
            }
            Generation generation = sampling.generation();
            // The first Ctrl-C ends the reply where it is, timings still printed; a second one exits at once.
            AtomicBoolean stop = new AtomicBoolean();
            try (Session session = modelOptions.session(model, err);
                    Interrupts _ = Interrupts.onInterrupt(() -> {
                        if (stop.getAndSet(true)) {
                            System.exit(130);
                        }
                    })) {
                Generation.Result result = session.generate(tokens, generation, piece -> {
                    if (!json) {
                        out.print(piece);
                        out.flush();
                    }
                }, stop::get);
                if (json) {
                    out.println(JsonMapper.builder().build().writeValueAsString(
                            toJson(result, generation.sampler().seed(), loadNanos)));
                } else {
                    out.println();
                    Stats.print(err, loadNanos, result.timings());
                }
                return result.stopReason() == Generation.StopReason.CANCELLED ? 130 : 0;
            }
        }
    }

    private String promptText() throws IOException {
        if (prompt.file == null) {
            return prompt.text;
        }
        try {
            return Files.readString(prompt.file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new Main.UserError(prompt.file + ": no such prompt file");
        } catch (java.nio.charset.MalformedInputException e) {
            return new String(Files.readAllBytes(prompt.file), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new Main.UserError(prompt.file + ": " + (Files.isDirectory(prompt.file) ? "is a directory" : e.getMessage()));
        }
    }

    private static Map<String, Object> toJson(Generation.Result result, long seed, long loadNanos) {
        Map<String, Object> timings = new LinkedHashMap<>();
        Generation.Timings t = result.timings();
        timings.put("load_ms", loadNanos / 1e6);
        timings.put("prompt_n", t.promptTokens());
        timings.put("prompt_ms", t.promptNanos() / 1e6);
        timings.put("prompt_per_second", t.promptTokensPerSecond());
        timings.put("predicted_n", t.generatedTokens());
        timings.put("predicted_ms", t.generationNanos() / 1e6);
        timings.put("predicted_per_second", t.generationTokensPerSecond());
        if (t.draftedTokens() > 0) {
            timings.put("draft_n", t.draftedTokens());
            timings.put("draft_n_accepted", t.acceptedDrafts());
        }
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("prompt_tokens", result.promptTokens());
        json.put("tokens", result.tokens());
        json.put("text", result.text());
        json.put("stop_reason", result.stopReason().name().toLowerCase());
        json.put("seed", seed);
        json.put("timings", timings);
        return json;
    }
}
