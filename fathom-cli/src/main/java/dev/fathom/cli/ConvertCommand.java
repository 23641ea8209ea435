package dev.fathom.cli;

import dev.fathom.model.gguf.Requantizer;
import dev.fathom.model.safetensors.CheckpointConverter;
import dev.fathom.model.safetensors.HuggingFaceCheckpoint;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code fathom convert}: a Hugging Face checkpoint directory written as one GGUF file. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = {"Write a Hugging Face checkpoint directory (DeepSeek-V2/V3/R1; BF16 or FP8 with block scales) as a"
                + " GGUF file that llama.cpp and Fathom load. Fathom also runs the directory itself, without converting."})
final class ConvertCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "DIR", description = "The checkpoint directory (config.json, safetensors, tokenizer.json).")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The GGUF file to write.")
    Path out;

    @Option(names = "--type", paramLabel = "TYPE", description = "Type of the weight matrices: " + QuantizeCommand.TYPES
            + " (default: ${DEFAULT-VALUE}).")
    String type = "bf16";

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: one per physical core, here ${DEFAULT-VALUE}).")
    int threads = Parallel.defaultThreads();

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    @Override
    public Integer call() throws IOException {
        GgmlType target = QuantizeCommand.fileType(type);
        if (threads < 1) {
            throw new Main.UserError("--threads must be at least 1");
        }
        if (!Files.isDirectory(in)) {
            throw new Main.UserError(in + ": not a directory (convert reads a Hugging Face checkpoint directory;"
                    + " for a GGUF file, use quantize)");
        }
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        try (HuggingFaceCheckpoint checkpoint = HuggingFaceCheckpoint.open(in); Parallel parallel = new Parallel(threads)) {
            CheckpointConverter.convert(checkpoint, out, target, parallel);
        }
        err.printf("wrote %s (%.2f GB) in %.1f s%n", out, Files.size(out) / 1e9, (System.nanoTime() - start) / 1e9);
        err.flush();
        return 0;
    }
}
