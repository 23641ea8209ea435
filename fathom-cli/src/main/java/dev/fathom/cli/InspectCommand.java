package dev.fathom.cli;

import dev.fathom.model.ModelFile;
import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.gguf.TensorInfo;
import dev.fathom.model.safetensors.HuggingFaceCheckpoint;
import dev.fathom.tensor.GgmlType;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/** {@code fathom inspect}: what a GGUF file or a Hugging Face checkpoint holds. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Show a model's architecture, parameters, metadata and tensors (a GGUF file, or a Hugging Face"
                + " checkpoint directory, shown as GGUF would name it).")
final class InspectCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(paramLabel = "MODEL", arity = "0..1", description = "The model: a GGUF file or a checkpoint directory."
            + " Default: the tiny model that ships with Fathom (" + ModelOptions.DEFAULT_MODEL + ").")
    Path file;

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    /** One tensor's line in the table. */
    private record Row(String name, GgmlType type, String shape, long elements, long bytes) {
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        try (ModelFile model = ModelFile.open(ModelOptions.orShipped(file))) {
            List<Row> rows = new ArrayList<>();
            String format;
            if (model instanceof GgufFile gguf) {
                format = String.format("GGUF v%d, %,d bytes, alignment %d, data at byte %,d", gguf.version(),
                        gguf.fileSize(), gguf.alignment(), gguf.dataStart());
                for (TensorInfo t : gguf.tensors()) {
                    rows.add(new Row(t.name(), t.type(), t.shapeString(), t.elements(), t.bytes()));
                }
            } else {
                HuggingFaceCheckpoint checkpoint = (HuggingFaceCheckpoint) model;
                format = String.format("Hugging Face checkpoint, %d safetensors file%s, shown under GGUF names",
                        checkpoint.shards(), checkpoint.shards() == 1 ? "" : "s");
                for (HuggingFaceCheckpoint.Tensor t : checkpoint.tensors()) {
                    rows.add(new Row(t.name(), t.type(), Arrays.toString(t.shape()), t.elements(), t.bytes()));
                }
            }
            long parameters = 0;
            Map<GgmlType, long[]> byType = new TreeMap<>();
            for (Row t : rows) {
                parameters += t.elements();
                long[] counts = byType.computeIfAbsent(t.type(), k -> new long[2]);
                counts[0]++;
                counts[1] += t.bytes();
            }
            out.printf("file:         %s%n", model.path());
            out.printf("format:       %s%n", format);
            out.printf("architecture: %s%n", model.getString("general.architecture", "(none)"));
            if (model.has("general.name")) {
                out.printf("name:         %s%n", model.getString("general.name"));
            }
            out.printf("parameters:   %,d (%s)%n", parameters,
                    parameters >= 1e9 ? String.format("%.2f B", parameters / 1e9) : String.format("%.1f M", parameters / 1e6));
            out.printf("tensors:      %d%n", rows.size());
            for (Map.Entry<GgmlType, long[]> e : byType.entrySet()) {
                out.printf("  %-7s %5d tensors, %,15d bytes%s%n", e.getKey(), e.getValue()[0], e.getValue()[1],
                        e.getKey().hasKernels() ? "" : "  (not supported)");
            }
            out.println();
            out.println("metadata:");
            for (Map.Entry<String, GgufValue> e : model.metadata().entrySet()) {
                out.printf("  %-48s %s%n", e.getKey(), e.getValue().describe(6));
            }
            out.println();
            out.printf("%-40s %-7s %-22s %15s%n", "tensor", "type", "shape", "bytes");
            for (Row t : rows) {
                out.printf("%-40s %-7s %-22s %,15d%n", t.name(), t.type(), t.shape(), t.bytes());
            }
            out.flush();
        }
        return 0;
    }
}
