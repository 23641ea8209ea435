package dev.fathom.model;

import dev.fathom.model.arch.Batch;
import dev.fathom.model.arch.DeepSeek2;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.arch.LanguageModel;
import dev.fathom.model.arch.Llama;
import dev.fathom.model.chat.ChatTemplate;
import dev.fathom.model.chat.ChatTemplates;
import dev.fathom.model.generate.Session;
import dev.fathom.model.tokenizer.Tokenizer;
import dev.fathom.tensor.MatMul;
import dev.fathom.tensor.Parallel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.SplittableRandom;

/**
 * A model file opened for use: its weights mapped in place, its tokenizer and chat template,
 * and the threads that compute with it. Close it to unmap the file and stop the threads.
 */
public final class Model implements AutoCloseable {
    private final ModelFile file;
    private final Tokenizer tokenizer;
    private final LanguageModel network;
    private final Parallel parallel;

    private Model(ModelFile file, Tokenizer tokenizer, LanguageModel network, Parallel parallel) {
        this.file = file;
        this.tokenizer = tokenizer;
        this.network = network;
        this.parallel = parallel;
    }

    /**
     * Opens a GGUF file or a Hugging Face checkpoint directory (see {@link ModelFile#open}),
     * computing on {@code threads} threads.
     */
    public static Model open(Path path, int threads) {
        ModelFile file = ModelFile.open(path);
        Parallel parallel = null;
        try {
            String architecture = file.getString("general.architecture");
            if (!architecture.equals("llama") && !architecture.equals("qwen2") && !architecture.equals("deepseek2")) {
                throw file.error("unknown architecture '" + architecture
                        + "' (general.architecture); supported: llama, qwen2, deepseek2");
            }
            Tokenizer tokenizer = Tokenizer.from(file);
            parallel = new Parallel(threads);
            MatMul matmul = new MatMul(parallel);
            LanguageModel network = architecture.equals("deepseek2")
                    ? DeepSeek2.load(file, tokenizer.vocabularySize(), matmul)
                    : Llama.load(file, tokenizer.vocabularySize(), matmul);
            return new Model(file, tokenizer, network, parallel);
        } catch (RuntimeException e) {
            if (parallel != null) {
                parallel.close();
            }
            file.close();
            throw e;
        }
    }

    /** The model's metadata and weights. */
    public ModelFile file() {
        return file;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public LanguageModel network() {
        return network;
    }

    public int threads() {
        return parallel.threads();
    }

    /** The chat template of the file; throws with a clear message if it has none Fathom renders. */
    public ChatTemplate chatTemplate() {
        String bos = tokenizer.bos() >= 0 ? tokenizer.text(tokenizer.bos()) : "";
        return ChatTemplates.forJinja(file.getString("tokenizer.chat_template", null), bos);
    }

    /**
     * A conversation of up to {@code contextLength} tokens (0: the model's trained length, capped
     * at 4096), evaluating prompts {@code batchSize} tokens at a time, with an f16 KV cache.
     */
    public Session newSession(int contextLength, int batchSize) {
        return newSession(contextLength, batchSize, KvCache.Type.F16);
    }

    /** As {@link #newSession(int, int)}, with a KV cache of {@code cacheType}. */
    public Session newSession(int contextLength, int batchSize, KvCache.Type cacheType) {
        return newSession(contextLength, batchSize, cacheType, false);
    }

    /**
     * As {@link #newSession(int, int, KvCache.Type)}; with {@code drafts}, the model's
     * multi-token-prediction layer drafts a token ahead (see {@link Session}).
     */
    public Session newSession(int contextLength, int batchSize, KvCache.Type cacheType, boolean drafts) {
        int length = contextLength > 0 ? contextLength : Math.min(4096, network.trainedContextLength());
        return new Session(network, tokenizer, length, Math.min(batchSize, length), cacheType, drafts);
    }

    /**
     * Runs the forward pass on throwaway input until {@code budget} has passed (at least once), so
     * that the JIT has compiled the kernels before a real prompt arrives: the Vector API is slow
     * until C2 has compiled the code that uses it. Interactive commands do this while the user
     * types. Returns early when the thread is interrupted. Not concurrent with other uses of this
     * model.
     */
    public void warmUp(Duration budget) {
        long deadline = System.nanoTime() + budget.toNanos();
        int vocabulary = network.vocabularySize();
        Thread thread = Thread.currentThread();
        try (KvCache cache = network.newCache(KvCache.Type.F16, 1, 64)) {
            Batch batch = new Batch(32);
            float[] logits = new float[vocabulary];
            SplittableRandom random = new SplittableRandom(1);
            do {
                batch.clear();
                for (int i = 0; i < 32; i++) {
                    batch.add(random.nextInt(vocabulary), i, 0, i == 31);
                }
                network.forward(batch, cache, logits);
                for (int i = 32; i < 48 && !thread.isInterrupted(); i++) {
                    network.forward(batch.clear().add(random.nextInt(vocabulary), i, 0, true), cache, logits);
                }
            } while (System.nanoTime() < deadline && !thread.isInterrupted());
        }
    }

    /** Tokens of a chat prompt: the template's text with special tokens parsed, BOS as the model asks. */
    public int[] chatTokens(String renderedPrompt) {
        String bos = tokenizer.bos() >= 0 ? tokenizer.text(tokenizer.bos()) : "";
        String text = tokenizer.addsBos() ? ChatTemplate.stripBos(renderedPrompt, bos) : renderedPrompt;
        return tokenizer.encode(text, true, true);
    }

    @Override
    public void close() {
        parallel.close();
        file.close();
    }
}
