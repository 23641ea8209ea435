package dev.fathom.cli;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.gguf.TensorInfo;
import dev.fathom.tensor.GgmlType;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code fathom inspect}: what a GGUF file holds. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Show a GGUF file's architecture, parameters, metadata and tensors.")
final class InspectCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "The model file (GGUF).")
    Path file;

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (GgufFile gguf = GgufFile.open(file)) {
            long parameters = 0;
            Map<GgmlType, long[]> byType = new TreeMap<>();
            for (TensorInfo t : gguf.tensors()) {
                parameters += t.elements();
                long[] counts = byType.computeIfAbsent(t.type(), k -> new long[2]);
                counts[0]++;
                counts[1] += t.bytes();
            }
            out.printf("file:         %s%n", gguf.path());
            out.printf("format:       GGUF v%d, %,d bytes, alignment %d, data at byte %,d%n", gguf.version(),
                    gguf.fileSize(), gguf.alignment(), gguf.dataStart());
            out.printf("architecture: %s%n", gguf.getString("general.architecture", "(none)"));
            if (gguf.has("general.name")) {
                out.printf("name:         %s%n", gguf.getString("general.name"));
            }
            out.printf("parameters:   %,d (%.2f B)%n", parameters, parameters / 1e9);
            out.printf("tensors:      %d%n", gguf.tensors().size());
            for (Map.Entry<GgmlType, long[]> e : byType.entrySet()) {
                out.printf("  %-6s %5d tensors, %,15d bytes%s%n", e.getKey(), e.getValue()[0], e.getValue()[1],
                        e.getKey().hasKernels() ? "" : "  (not supported)");
            }
            out.println();
            out.println("metadata:");
            for (Map.Entry<String, GgufValue> e : gguf.metadata().entrySet()) {
                out.printf("  %-48s %s%n", e.getKey(), e.getValue().describe(6));
            }
            out.println();
            out.printf("%-40s %-6s %-22s %15s%n", "tensor", "type", "shape", "bytes");
            for (TensorInfo t : gguf.tensors()) {
                out.printf("%-40s %-6s %-22s %,15d%n", t.name(), t.type(), t.shapeString(), t.bytes());
            }
            out.flush();
        }
        return 0;
    }
}
