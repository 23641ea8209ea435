package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.serve.Server;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code fathom serve}: the DeepSeek- and OpenAI-compatible HTTP API. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve the model over HTTP with DeepSeek's and OpenAI's chat completions API"
                + " (POST /v1/chat/completions, GET /v1/models, GET /health), several requests at once."})
final class ServeCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--host", paramLabel = "HOST", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String host = "127.0.0.1";

    @Option(names = "--port", paramLabel = "PORT", description = "Port to listen on (default: ${DEFAULT-VALUE}; 0: any free one).")
    int port = 8080;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N",
            description = "Replies generated at once, in one batched forward pass per step (default: ${DEFAULT-VALUE}).")
    int parallel = 4;

    @Option(names = "--queue", paramLabel = "N",
            description = "Requests that may wait for a free slot; more get 429 (default: ${DEFAULT-VALUE}).")
    int queue = 64;

    @Option(names = "--cache-ram", paramLabel = "MiB", description = "Memory for the keys and values of earlier prompts,"
            + " kept beyond the slots so that a repeated prefix skips its prefill (default: ${DEFAULT-VALUE}; 0: none).")
    int cacheRam = 2048;

    @Option(names = "--cache-disk", paramLabel = "MiB", description = "Disk for the prefix cache's blocks once they leave"
            + " memory, so that a prefix seen long ago still skips its prefill (default: ${DEFAULT-VALUE}; 0: none).")
    int cacheDisk = 0;

    @Option(names = "--cache-dir", paramLabel = "DIR", description = "Where --cache-disk keeps its blocks, in a"
            + " directory of its own removed at exit (default: the system's temporary directory).")
    Path cacheDir = Path.of(System.getProperty("java.io.tmpdir"));

    @Option(names = "--api-key", paramLabel = "KEY", description = "Require 'Authorization: Bearer KEY' on every API call.")
    String apiKey;

    @Option(names = "--alias", paramLabel = "NAME", description = "The model's name in /v1/models (default: the file's name).")
    String alias;

    @Override
    public Integer call() throws InterruptedException {
        if (parallel < 1 || queue < 0 || port < 0 || port > 65535 || cacheRam < 0 || cacheDisk < 0) {
            throw new Main.UserError("--parallel must be at least 1, --queue, --cache-ram and --cache-disk at least 0,"
                    + " --port in [0, 65535]");
        }
        if (cacheDisk > 0 && !(Files.isDirectory(cacheDir) && Files.isWritable(cacheDir))) {
            throw new Main.UserError("--cache-dir " + cacheDir + " is not a directory this process may write to");
        }
        if (modelOptions.mtp) {
            throw new Main.UserError("--mtp is not supported by serve yet");
        }
        PrintWriter err = spec.commandLine().getErr();
        Server server = Server.start(new Server.Options(host, port, parallel, modelOptions.contextLength,
                modelOptions.batchSize, queue, modelOptions.cacheType(), apiKey, (long) cacheRam << 20,
                cacheDisk > 0 ? cacheDir : null, (long) cacheDisk << 20));
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }));
        err.printf("listening on http://%s:%d (loading the model; /health answers 503 until it is ready)%n", host, server.port());
        err.flush();
        long start = System.nanoTime();
        Model model;
        try {
            model = modelOptions.open();
        } catch (RuntimeException e) {
            server.close();
            throw e;
        }
        String name = modelOptions.model().getFileName().toString().replaceFirst("\\.gguf$", "");
        server.serve(model, alias != null ? alias : name);
        err.printf("serving %s (%s) with %d slots, loaded in %.1f s%n", alias != null ? alias : name,
                model.network().describe(), parallel, (System.nanoTime() - start) / 1e9);
        err.flush();
        stopped.await();
        return 0;
    }
}
