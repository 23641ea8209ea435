package dev.fathom.tensor;

import java.util.Arrays;

/**
 * A batch of activation rows (one per token) about to be multiplied with weight matrices.
 *
 * <p>Several matrices usually read the same input (the query, key and value projections, the
 * gate and up projections), possibly in different weight types. The int8 forms that the
 * kernels need are therefore made on first use and kept until the values change.
 */
public final class Activations {
    private final int capacity;
    private final int cols;
    private final float[] values;
    private final QuantizedVector[][] quantized = new QuantizedVector[ActivationFormat.values().length][];
    private final boolean[] ready = new boolean[ActivationFormat.values().length];
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
        Arrays.fill(ready, false);
    }

    /** Row {@code row} quantized in {@code format}; {@link #prepare} must have run for it. */
    QuantizedVector quantized(ActivationFormat format, int row) {
        return quantized[format.ordinal()][row];
    }

    /** Makes the {@code format} form of every row, if it is not already there. */
    void prepare(ActivationFormat format, Parallel parallel) {
        int f = format.ordinal();
        if (format == ActivationFormat.F32 || ready[f]) {
            return;
        }
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
        ready[f] = true;
    }
}
