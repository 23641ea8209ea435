package dev.fathom.tensor;

import java.util.Arrays;

/**
 * A batch of activation rows (one per token) about to be multiplied with weight matrices.
 *
 * <p>Several matrices usually read the same input (the query, key and value projections, the
 * gate and up projections), possibly of different weight types. The forms each type needs
 * ({@link ActivationFormat}) are therefore made on first use and kept until the values change:
 * int8 blocks for the integer kernels, and floats holding exactly the values those blocks
 * represent for the tiled prompt path and the few-token products. Those float rows start on a
 * cache line ({@link CacheLines}), at {@link #floatsStart}.
 */
public final class Activations {
    private static final int FORMATS = ActivationFormat.values().length;

    private final int capacity;
    private final int cols;
    private final float[] values;
    private final QuantizedVector[][] quantized = new QuantizedVector[FORMATS][];
    private final float[][] converted = new float[FORMATS][];
    private final int[] convertedStart = new int[FORMATS];
    private final boolean[] quantizedReady = new boolean[FORMATS];
    private final boolean[] convertedReady = new boolean[FORMATS];
    private int rows;

    public Activations(int capacity, int cols) {
        this.capacity = capacity;
        this.cols = cols;
        this.values = new float[capacity * cols];
    }

    /** The rows, token after token, {@link #cols()} floats each. Call {@link #update} after writing. */
    public float[] values() {
        return values;
    }

    public int rows() {
        return rows;
    }

    public int cols() {
        return cols;
    }

    public int capacity() {
        return capacity;
    }

    /** Declares that rows [0, rows) of {@link #values()} now hold the input. */
    public void update(int rows) {
        if (rows < 0 || rows > capacity) {
            throw new IllegalArgumentException(rows + " rows do not fit a batch of " + capacity);
        }
        this.rows = rows;
        Arrays.fill(quantizedReady, false);
        Arrays.fill(convertedReady, false);
    }

    /** The rows' int8 blocks in {@code format} (a quantized format), made if needed. */
    QuantizedVector[] quantized(ActivationFormat format, Parallel parallel) {
        int f = format.ordinal();
        if (!quantizedReady[f]) {
            if (quantized[f] == null) {
                quantized[f] = new QuantizedVector[capacity];
                for (int r = 0; r < capacity; r++) {
                    quantized[f][r] = new QuantizedVector(format, cols);
                }
            }
            QuantizedVector[] q = quantized[f];
            parallel.forRange(rows, 16, (worker, from, to) -> {
                for (int r = from; r < to; r++) {
                    q[r].quantize(values, r * cols, cols);
                }
            });
            quantizedReady[f] = true;
        }
        return quantized[f];
    }

    /**
     * The rows as {@code format} represents them, as floats, made if needed: row r from index
     * {@code floatsStart(format) + r · cols()}.
     */
    float[] floats(ActivationFormat format, Parallel parallel) {
        if (format == ActivationFormat.F32) {
            return values;
        }
        int f = format.ordinal();
        if (!convertedReady[f]) {
            if (converted[f] == null) {
                converted[f] = new float[capacity * cols + CacheLines.FLOATS];
            }
            float[] out = converted[f];
            int start = CacheLines.firstAligned(out);
            convertedStart[f] = start;
            if (format.quantized) {
                QuantizedVector[] q = quantized(format, parallel);
                for (int r = 0; r < rows; r++) {
                    q[r].dequantize(out, start + r * cols);
                }
            } else {
                for (int i = 0; i < rows * cols; i++) {
                    out[start + i] = format.round(values[i]);
                }
            }
            convertedReady[f] = true;
        }
        return converted[f];
    }

    /** Where row 0 of {@link #floats} in {@code format} starts, once they are made. */
    int floatsStart(ActivationFormat format) {
        return format == ActivationFormat.F32 ? 0 : convertedStart[format.ordinal()];
    }
}
