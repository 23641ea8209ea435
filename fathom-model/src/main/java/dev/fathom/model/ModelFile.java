package dev.fathom.model;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.safetensors.HuggingFaceCheckpoint;
import dev.fathom.tensor.Matrix;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model's metadata and weights as the architectures read them: metadata under GGUF's keys
 * ({@code general.architecture}, {@code deepseek2.block_count}, {@code tokenizer.ggml.tokens},
 * ...) and tensors under GGUF's names ({@code blk.0.attn_q_a.weight}). A GGUF file is that
 * already; a Hugging Face checkpoint directory is translated into it on opening, as
 * llama.cpp's converter would, without copying a weight.
 *
 * <p>Missing entries and entries of the wrong type or shape are {@link #error errors} naming
 * the model and the entry.
 */
public interface ModelFile extends AutoCloseable {

    /** Opens a GGUF file, or the Hugging Face checkpoint in a directory. */
    static ModelFile open(Path path) {
        return Files.isDirectory(path) ? HuggingFaceCheckpoint.open(path) : GgufFile.open(path);
    }

    /** The file or directory, for messages. */
    Path path();

    /** All metadata, under GGUF keys. */
    Map<String, GgufValue> metadata();

    boolean hasTensor(String name);

    /**
     * The 2-D tensor {@code name} as a matrix of rows × cols (ggml shape [cols, rows]), checked
     * against the expected shape.
     */
    Matrix matrix(String name, long cols, long rows);

    /** The 3-D tensor {@code name} of ggml shape [cols, rows, count] as {@code count} matrices (experts, heads). */
    Matrix[] matrices(String name, long cols, long rows, int count);

    /** A 1-D tensor of {@code n} values (norm weights, biases), decoded to floats. */
    float[] vector(String name, long n);

    /** An error about this model: the message, after the model's path. */
    default ModelFileException error(String message) {
        return new ModelFileException(path() + ": " + message);
    }

    @Override
    void close();

    // ---- typed metadata access: a wrong type or missing required key is a clear error ----

    default boolean has(String key) {
        return metadata().containsKey(key);
    }


    default String getString(String key) {
        return (String) required(key, GgufType.STRING).value();
    }

    default String getString(String key, String fallback) {
        return has(key) ? getString(key) : fallback;
    }

    /** An integer of any GGUF integer type that fits in an int. */
    default int getInt(String key) {
        GgufValue v = require(key);
        long n = switch (v.value()) {
            case Integer i -> i;
            case Long l -> l;
            default -> throw typeError(key, v, "an integer");
        };
        if (n != (int) n) {
            throw error("metadata " + key + " = " + n + " is out of range");
        }
        return (int) n;
    }

    default int getInt(String key, int fallback) {
        return has(key) ? getInt(key) : fallback;
    }

    /** A float from FLOAT32 or FLOAT64 metadata. */
    default float getFloat(String key) {
        GgufValue v = require(key);
        return switch (v.value()) {
            case Float f -> f;
            case Double d -> d.floatValue();
            default -> throw typeError(key, v, "a float");
        };
    }

    default float getFloat(String key, float fallback) {
        return has(key) ? getFloat(key) : fallback;
    }

    default boolean getBool(String key, boolean fallback) {
        if (!has(key)) {
            return fallback;
        }
        GgufValue v = metadata().get(key);
        if (!(v.value() instanceof Boolean b)) {
            throw typeError(key, v, "a bool");
        }
        return b;
    }

    default String[] getStringArray(String key) {
        GgufValue v = require(key);
        if (!v.isArray() || v.elementType() != GgufType.STRING) {
            throw typeError(key, v, "an array of strings");
        }
        return (String[]) v.value();
    }

    /** An array of any integer type narrower than 64 bits, as ints. */
    default int[] getIntArray(String key) {
        GgufValue v = require(key);
        if (v.isArray() && v.value() instanceof int[] ints) {
            return ints;
        }
        if (v.isArray() && v.value() instanceof long[] longs && v.elementType() == GgufType.UINT32) {
            int[] ints = new int[longs.length];
            for (int i = 0; i < ints.length; i++) {
                if (longs[i] > Integer.MAX_VALUE) {
                    throw error(key + "[" + i + "] = " + longs[i] + " is out of range");
                }
                ints[i] = (int) longs[i];
            }
            return ints;
        }
        throw typeError(key, v, "an array of integers");
    }

    default float[] getFloatArray(String key) {
        GgufValue v = require(key);
        if (v.isArray() && v.value() instanceof float[] floats) {
            return floats;
        }
        throw typeError(key, v, "an array of floats");
    }

    private GgufValue require(String key) {
        GgufValue v = metadata().get(key);
        if (v == null) {
            throw error("required metadata " + key + " is missing");
        }
        return v;
    }

    private GgufValue required(String key, GgufType type) {
        GgufValue v = require(key);
        if (v.type() != type) {
            throw typeError(key, v, type.name().toLowerCase());
        }
        return v;
    }

    private ModelFileException typeError(String key, GgufValue v, String expected) {
        String actual = v.isArray() ? "array of " + v.elementType().name().toLowerCase() : v.type().name().toLowerCase();
        return error("metadata " + key + " should be " + expected + ", but is " + actual);
    }
}
