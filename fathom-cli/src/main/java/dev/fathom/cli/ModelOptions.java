package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.generate.Session;
import dev.fathom.tensor.Parallel;
import java.io.PrintWriter;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** The options every command that loads a model shares. */
final class ModelOptions {
    /** The model that ships with Fathom, relative to its installation (the launcher says where that is). */
    static final String DEFAULT_MODEL = "models/fathom-tiny.gguf";

    @Option(names = {"-m", "--model"}, paramLabel = "MODEL",
            description = "The model: a GGUF file, or a Hugging Face checkpoint directory (DeepSeek-V2/V3/R1, BF16 or FP8)."
                    + " Default: the tiny model that ships with Fathom (" + DEFAULT_MODEL + ").")
    Path model;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads to compute with (default: one per physical core, here ${DEFAULT-VALUE}).")
    int threads = Parallel.defaultThreads();

    @Option(names = {"-c", "--ctx"}, paramLabel = "N",
            description = "Context size in tokens (default: the model's, at most 4096).")
    int contextLength;

    @Option(names = {"-b", "--batch"}, paramLabel = "N", description = "Prompt tokens per forward pass (default: ${DEFAULT-VALUE}).")
    int batchSize = 512;

    @Option(names = "--cache-type", paramLabel = "TYPE", description = "KV cache element type: f16 or f32 (default: ${DEFAULT-VALUE}).")
    String cacheType = "f16";

    @Option(names = "--mtp", description = "Draft a token ahead with the model's multi-token-prediction layer"
            + " (DeepSeek-V3/R1 files that keep it): the same output, sooner when the drafts are confirmed.")
    boolean mtp;

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    KvCache.Type cacheType() {
        try {
            return KvCache.Type.parse(cacheType);
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(e.getMessage());
        }
    }

    /** A session as these options ask; warns on {@code err} of a context longer than the model was trained for. */
    Session session(Model model, PrintWriter err) {
        int trained = model.network().trainedContextLength();
        if (contextLength > trained) {
            err.printf("warning: --ctx %d is more than the %d tokens the model was trained on; it may lose track past that%n",
                    contextLength, trained);
            err.flush();
        }
        try {
            return model.newSession(contextLength, batchSize, cacheType(), mtp);
        } catch (IllegalArgumentException e) {
            throw new Main.UserError(model.file().path() + ": " + e.getMessage());
        }
    }

    /** Opens the model asked for (or the shipped one). */
    Model open() {
        return open(model());
    }

    /** Opens {@code path} with these options' threads, once the options are checked. */
    Model open(Path path) {
        if (threads < 1) {
            throw new Main.UserError("--threads must be at least 1");
        }
        if (contextLength < 0) {
            throw new Main.UserError("--ctx must be 0 (the model's own, at most 4096) or more");
        }
        if (batchSize < 1) {
            throw new Main.UserError("--batch must be at least 1");
        }
        cacheType();
        return Model.open(path, threads);
    }

    /** The model asked for, or the one that ships with Fathom. */
    Path model() {
        return orShipped(model);
    }

    /** {@code model}, or the model that ships with Fathom when it is null. */
    static Path orShipped(Path model) {
        if (model != null) {
            return model;
        }
        Path shipped = Path.of(System.getProperty("fathom.home", ".")).resolve(DEFAULT_MODEL);
        if (!java.nio.file.Files.exists(shipped)) {
            throw new Main.UserError("no model given (-m FILE) and the default model is not at " + shipped);
        }
        return shipped;
    }
}
