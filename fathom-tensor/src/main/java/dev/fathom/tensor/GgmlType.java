package dev.fathom.tensor;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The element types of ggml tensors, with their GGUF ids and block geometry.
 *
 * <p>Every type that a GGUF file may name is listed, so that a file can be parsed (and its
 * tensor sizes checked) even when one of its types has no kernel here; {@link #hasKernels()}
 * says which types Fathom can compute with.
 */
public enum GgmlType {
    F32(0, 1, 4, true),
    F16(1, 1, 2, true),
    Q4_0(2, 32, 18, true),
    Q4_1(3, 32, 20, true),
    Q5_0(6, 32, 22, true),
    Q5_1(7, 32, 24, true),
    Q8_0(8, 32, 34, true),
    Q8_1(9, 32, 36, false),
    Q2_K(10, 256, 84, false),
    Q3_K(11, 256, 110, false),
    Q4_K(12, 256, 144, true),
    Q5_K(13, 256, 176, true),
    Q6_K(14, 256, 210, true),
    Q8_K(15, 256, 292, false),
    IQ2_XXS(16, 256, 66, false),
    IQ2_XS(17, 256, 74, false),
    IQ3_XXS(18, 256, 98, false),
    IQ1_S(19, 256, 50, false),
    IQ4_NL(20, 32, 18, false),
    IQ3_S(21, 256, 110, false),
    IQ2_S(22, 256, 82, false),
    IQ4_XS(23, 256, 136, false),
    I8(24, 1, 1, false),
    I16(25, 1, 2, false),
    I32(26, 1, 4, false),
    I64(27, 1, 8, false),
    F64(28, 1, 8, false),
    IQ1_M(29, 256, 56, false),
    BF16(30, 1, 2, true),
    TQ1_0(34, 256, 54, false),
    TQ2_0(35, 256, 66, false),
    MXFP4(39, 32, 17, false),
    NVFP4(40, 64, 36, false),
    Q1_0(41, 128, 18, false),
    Q2_0(42, 64, 18, false),
    /**
     * Not a ggml type: the FP8 (E4M3, "fn" variant) weights of Hugging Face checkpoints, read in
     * place with their block scales. GGUF has no id for it, so no file can name it.
     */
    F8_E4M3(-1, 1, 1, true);

    /** Id of this type in GGUF tensor infos. */
    public final int id;
    /** Elements per block. */
    public final int blockSize;
    /** Bytes per block. */
    public final int blockBytes;
    private final boolean kernels;

    private static final GgmlType[] BY_ID = new GgmlType[64];

    static {
        for (GgmlType t : values()) {
            if (t.id >= 0) {
                BY_ID[t.id] = t;
            }
        }
    }

    GgmlType(int id, int blockSize, int blockBytes, boolean kernels) {
        this.id = id;
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.kernels = kernels;
    }

    /** The type with this GGUF id, or null if the id is not a known ggml type. */
    public static GgmlType byId(int id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[id] : null;
    }

    /** Whether Fathom has dequantisation and dot-product kernels for this type. */
    public boolean hasKernels() {
        return kernels;
    }

    /** Bytes taken by {@code elements} values; {@code elements} must be a multiple of the block size. */
    public long bytesFor(long elements) {
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(
                    elements + " elements is not a whole number of " + this + " blocks of " + blockSize);
        }
        return elements / blockSize * blockBytes;
    }

    /** The types Fathom computes with, for error messages. */
    public static String supportedNames() {
        return Arrays.stream(values()).filter(GgmlType::hasKernels).map(Enum::name)
                .collect(Collectors.joining(", "));
    }
}
