package dev.fathom.tensor;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix of {@code rows} × {@code cols} stored row after row in its ggml type, usually
 * a slice of a memory-mapped model file. A row is contiguous (ggml's ne0 = cols), which is what
 * makes each output a dot product over one row.
 */
public record Matrix(String name, GgmlType type, MemorySegment data, int rows, int cols) {

    public Matrix {
        WeightKernel.of(type);
        long expected = rows * type.bytesFor(cols);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for " + rows + " rows of "
                    + cols + " " + type + " values, expected " + expected);
        }
    }

    public WeightKernel kernel() {
        return WeightKernel.of(type);
    }

    public long rowBytes() {
        return type.bytesFor(cols);
    }

    /** Decodes row {@code row} into {@code dst} from {@code dstOffset}. */
    public void dequantizeRow(int row, float[] dst, int dstOffset) {
        kernel().dequantize(data, row * rowBytes(), dst, dstOffset, cols);
    }
}
