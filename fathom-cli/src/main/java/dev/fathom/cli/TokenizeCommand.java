package dev.fathom.cli;

import dev.fathom.model.ModelFile;
import dev.fathom.model.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code fathom tokenize}: the token ids of a text, as the model's tokenizer splits it. */
@Command(name = "tokenize", mixinStandardHelpOptions = true,
        description = {"Print the token ids of a text. Special tokens written in the text are parsed as special"
                + " tokens, and BOS comes first when the model asks for it, as llama.cpp's tokenizer does."})
final class TokenizeCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "MODEL",
            description = "The model: a GGUF file, or a Hugging Face checkpoint directory."
                    + " Default: the tiny model that ships with Fathom (" + ModelOptions.DEFAULT_MODEL + ").")
    Path model;

    static final class Source {
        @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", description = "The text.")
        String text;

        @Option(names = {"-f", "--file"}, paramLabel = "FILE", description = "Read the text from a file (raw bytes).")
        Path file;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = "--json", description = "Print a JSON array of ids.")
    boolean json;

    @Option(names = "--no-bos", description = "Do not add BOS (or EOS) even if the model asks for it.")
    boolean noBos;

    @Option(names = "--no-parse-special", description = "Treat special-token text as plain text.")
    boolean noParseSpecial;

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    @Override
    public Integer call() throws IOException {
        byte[] text;
        if (source.file != null) {
            try {
                text = Files.readAllBytes(source.file);
            } catch (NoSuchFileException e) {
                throw new Main.UserError(source.file + ": no such file");
            }
        } else {
            text = source.text.getBytes(StandardCharsets.UTF_8);
        }
        PrintWriter out = spec.commandLine().getOut();
        try (ModelFile gguf = ModelFile.open(ModelOptions.orShipped(model))) {
            Tokenizer tokenizer = Tokenizer.from(gguf);
            int[] ids = tokenizer.encode(text, !noBos, !noParseSpecial);
            if (json) {
                StringBuilder sb = new StringBuilder("[");
                for (int i = 0; i < ids.length; i++) {
                    sb.append(i > 0 ? "," : "").append(ids[i]);
                }
                out.println(sb.append(']'));
            } else {
                for (int id : ids) {
                    String piece = new String(tokenizer.bytes(id, true), StandardCharsets.UTF_8);
                    out.printf("%6d -> '%s'%n", id, piece);
                }
            }
            out.flush();
        }
        return 0;
    }
}
