package dev.fathom.cli;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.Requantizer;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code fathom quantize}: a GGUF file's weight matrices written in another type. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Write a GGUF file with its weight matrices in another type (norms and expert routers stay"
                + " as they are; rows too short for the type's blocks get llama.cpp's fallback type)."})
final class QuantizeCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IN", description = "The model file to read (GGUF).")
    Path in;

    @Parameters(index = "1", paramLabel = "OUT", description = "The file to write.")
    Path out;

    /** The types a file can be written in, for help texts. */
    static final String TYPES = "f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k or q6_k";

    @Parameters(index = "2", paramLabel = "TYPE", description = TYPES + ".")
    String type;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: one per physical core, here ${DEFAULT-VALUE}).")
    int threads = Parallel.defaultThreads();

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    /** The type named {@code name} (any case), if files can be written in it. */
    static GgmlType fileType(String name) {
        return Arrays.stream(GgmlType.values()).filter(t -> t.name().equalsIgnoreCase(name))
                .filter(Requantizer::supports).findFirst().orElseThrow(() -> new Main.UserError("unknown type '" + name
                        + "' (supported: " + Arrays.stream(GgmlType.values()).filter(Requantizer::supports)
                        .map(t -> t.name().toLowerCase()).collect(Collectors.joining(", ")) + ")"));
    }

    @Override
    public Integer call() throws IOException {
        GgmlType target = fileType(type);
        if (threads < 1) {
            throw new Main.UserError("--threads must be at least 1");
        }
        PrintWriter err = spec.commandLine().getErr();
        long start = System.nanoTime();
        try (GgufFile gguf = GgufFile.open(in); Parallel parallel = new Parallel(threads)) {
            if (Files.exists(out) && Files.isSameFile(in, out)) {
                throw new Main.UserError(out + ": is the input file; write to another one");
            }
            Requantizer.requantize(gguf, out, target, parallel);
        }
        err.printf("wrote %s (%.2f GB) in %.1f s%n", out, Files.size(out) / 1e9, (System.nanoTime() - start) / 1e9);
        err.flush();
        return 0;
    }
}
