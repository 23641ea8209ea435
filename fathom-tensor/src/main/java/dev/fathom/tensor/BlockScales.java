package dev.fathom.tensor;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.MemorySegment;

/**
 * Scales for blocks of a matrix: {@code W[r][c] = stored[r][c] · values[((firstRow + r) / blockRows)
 * · gridCols + c / blockCols]}. This is how FP8 checkpoints store their weights (DeepSeek-V3:
 * 128 × 128 blocks, the scales named {@code weight_scale_inv}); blocks at the right and bottom
 * edges may be partial. {@code firstRow} places a matrix that is a slice of rows of a larger one
 * (a head's rows of MLA's kv_b) in the larger one's grid.
 */
public record BlockScales(float[] values, int blockRows, int blockCols, int firstRow) {

    public BlockScales {
        if (blockRows < 1 || blockCols < 1 || firstRow < 0) {
            throw new IllegalArgumentException("blocks of " + blockRows + " × " + blockCols + " from row " + firstRow);
        }
    }

    public BlockScales(float[] values, int blockRows, int blockCols) {
        this(values, blockRows, blockCols, 0);
    }

    /** The scales of rows {@code first} onwards, for a slice of the matrix that starts there. */
    public BlockScales fromRow(int first) {
        return new BlockScales(values, blockRows, blockCols, firstRow + first);
    }

    /** Scale blocks across a row of {@code cols} values. */
    public int gridCols(int cols) {
        return Math.ceilDiv(cols, blockCols);
    }

    /** Whether these scales cover a matrix of {@code rows} × {@code cols}: exactly, unless it is a slice. */
    boolean fits(int rows, int cols) {
        long needed = (long) Math.ceilDiv(firstRow + rows, blockRows) * gridCols(cols);
        return firstRow == 0 ? needed == values.length : needed <= values.length;
    }

    /**
     * Row {@code row} of {@code w} (its stored values at byte {@code offset}) dotted with
     * {@code x} from {@code xOffset}.
     */
    float dot(WeightKernel kernel, MemorySegment w, long offset, int row, int cols, float[] x, int xOffset) {
        int first = (firstRow + row) / blockRows * gridCols(cols);
        return kernel.dotBlockScaled(w, offset, x, xOffset, values, first, blockCols, cols);
    }

    /** Scales row {@code row} of {@code cols} stored values, decoded into {@code dst} from {@code dstOffset}. */
    void scaleRow(int row, int cols, float[] dst, int dstOffset) {
        int grid = gridCols(cols);
        int first = (firstRow + row) / blockRows * grid;
        for (int b = 0; b < grid; b++) {
            float s = values[first + b];
            int end = dstOffset + Math.min(cols, (b + 1) * blockCols);
            for (int i = dstOffset + b * blockCols; i < end; i++) {
                dst[i] *= s;
            }
        }
    }
}
