package dev.fathom.model.gguf;

import dev.fathom.tensor.GgmlType;
import java.util.Arrays;

/**
 * A tensor of a GGUF file: its name, ggml shape (ne0 first: ne0 is the contiguous dimension),
 * type, and where its bytes lie in the file.
 */
public record TensorInfo(String name, long[] shape, GgmlType type, long fileOffset, long bytes) {

    public long elements() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** The shape as ggml prints it, e.g. {@code [1536, 151936]}. */
    public String shapeString() {
        return Arrays.toString(shape);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && t.name.equals(name) && Arrays.equals(t.shape, shape) && t.type == type
                && t.fileOffset == fileOffset && t.bytes == bytes;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }
}
