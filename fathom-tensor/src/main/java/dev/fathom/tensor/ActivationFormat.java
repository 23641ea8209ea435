package dev.fathom.tensor;

/**
 * The form activations take before they meet a weight matrix.
 *
 * <p>Like llama.cpp, each weight type names the type its activations are converted to (ggml's
 * "vec_dot_type"): quantized weights meet activations quantized to 8-bit integers, so that the
 * inner loop is an integer dot product; f16 and bf16 weights meet activations rounded to their
 * own precision. Fathom converts activations the same way on every path (the tiled prompt path
 * uses the converted values as floats), which keeps its logits within float rounding of the
 * reference and identical between prompt processing and generation.
 */
public enum ActivationFormat {
    /** Plain floats: F32 weights. */
    F32(1, false),
    /** Floats rounded to f16: F16 weights. */
    F16(1, false),
    /** Floats rounded to bf16: BF16 weights. */
    BF16(1, false),
    /** Blocks of 32 int8 with an f16-rounded scale: Q8_0, Q4_0 and Q5_0 weights. */
    Q8_0(32, true),
    /** Q8_0 plus the block's scaled sum (d·Σq, f16-rounded): Q4_1 and Q5_1 weights, whose offsets need it. */
    Q8_1(32, true),
    /** Blocks of 256 int8 with an f32 scale and sums per 16: the K-quants. */
    Q8_K(256, true);

    /** Elements per block. */
    public final int blockSize;
    /** Whether the activations become int8 blocks ({@link QuantizedVector}) rather than floats. */
    public final boolean quantized;

    ActivationFormat(int blockSize, boolean quantized) {
        this.blockSize = blockSize;
        this.quantized = quantized;
    }

    /** {@code x} as this format represents it, for the formats that stay floats. */
    float round(float x) {
        return switch (this) {
            case F32 -> x;
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(x));
            case BF16 -> dev.fathom.tensor.kernel.Bf16.round(x);
            default -> throw new IllegalStateException(this + " is not a float format");
        };
    }
}
