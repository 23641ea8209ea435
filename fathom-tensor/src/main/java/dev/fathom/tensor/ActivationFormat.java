package dev.fathom.tensor;

/**
 * How a vector of activations is prepared before it meets a weight matrix.
 *
 * <p>Like llama.cpp, quantized weights are multiplied with activations that were themselves
 * quantized to 8-bit integers, so that the inner loop is an integer dot product. Each weight
 * type names the activation format its kernel expects (ggml's "vec_dot_type"); matching the
 * reference's choice also keeps our logits within rounding distance of it.
 */
public enum ActivationFormat {
    /** Plain floats: F32, F16 and BF16 weights. */
    F32(1),
    /** Blocks of 32 int8 with an f16-rounded scale: Q8_0, Q4_0 and Q5_0 weights. */
    Q8_0(32),
    /** Q8_0 plus the block's scaled sum (d·Σq, f16-rounded): Q4_1 and Q5_1 weights, whose offsets need it. */
    Q8_1(32),
    /** Blocks of 256 int8 with an f32 scale and sums per 16: the K-quants. */
    Q8_K(256);

    /** Elements per block. */
    public final int blockSize;

    ActivationFormat(int blockSize) {
        this.blockSize = blockSize;
    }
}
