package dev.fathom.tensor;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix of {@code rows} × {@code cols} stored row after row in its type, usually a
 * slice of a memory-mapped model file. A row is contiguous (ggml's ne0 = cols), which is what
 * makes each output a dot product over one row. Formats with scales per block of rows and
 * columns (FP8 checkpoints) carry them in {@code scales}; it is null for the ggml types, whose
 * scales live inside their blocks.
 */
public record Matrix(String name, GgmlType type, MemorySegment data, int rows, int cols, BlockScales scales) {

    public Matrix {
        WeightKernel kernel = WeightKernel.of(type);
        long expected = rows * type.bytesFor(cols);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException(name + ": " + data.byteSize() + " bytes for " + rows + " rows of "
                    + cols + " " + type + " values, expected " + expected);
        }
        if (scales != null && (kernel.activationFormat().quantized || !scales.fits(rows, cols))) {
            throw new IllegalArgumentException(name + ": " + scales.values().length + " scales of " + scales.blockRows()
                    + " × " + scales.blockCols() + " blocks do not fit " + rows + " × " + cols + " " + type + " values");
        }
    }

    public Matrix(String name, GgmlType type, MemorySegment data, int rows, int cols) {
        this(name, type, data, rows, cols, null);
    }

    public WeightKernel kernel() {
        return WeightKernel.of(type);
    }

    public long rowBytes() {
        return type.bytesFor(cols);
    }

    /** Rows [{@code first}, {@code first + count}) as a matrix of their own, in place; block scales go with them. */
    public Matrix rows(String name, int first, int count) {
        return new Matrix(name, type, data.asSlice(first * rowBytes(), count * rowBytes()), count, cols,
                scales == null ? null : scales.fromRow(first));
    }

    /** Decodes row {@code row} into {@code dst} from {@code dstOffset}. */
    public void dequantizeRow(int row, float[] dst, int dstOffset) {
        kernel().dequantize(data, row * rowBytes(), dst, dstOffset, cols);
        if (scales != null) {
            scales.scaleRow(row, cols, dst, dstOffset);
        }
    }
}
