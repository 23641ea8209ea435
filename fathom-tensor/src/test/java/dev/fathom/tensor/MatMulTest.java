package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

class MatMulTest {
    private static final Parallel PARALLEL = new Parallel(2);

    @AfterAll
    static void close() {
        PARALLEL.close();
    }

    /** A matrix of Gaussian values in {@code type}. */
    static Matrix randomMatrix(GgmlType type, int rows, int cols, Random random) {
        float[] weights = new float[rows * cols];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        MemorySegment data = Arena.ofAuto().allocate(rows * type.bytesFor(cols));
        for (int r = 0; r < rows; r++) {
            WeightKernel.of(type).quantize(weights, r * cols, data, r * type.bytesFor(cols), cols);
        }
        return new Matrix("w", type, data, rows, cols);
    }

    static Activations randomActivations(int tokens, int cols, Random random) {
        Activations x = new Activations(tokens, cols);
        for (int i = 0; i < tokens * cols; i++) {
            x.values()[i] = (float) random.nextGaussian();
        }
        x.update(tokens);
        return x;
    }

    @ParameterizedTest
    @CsvSource({"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    void thePromptPathAgreesWithTheTokenByTokenPathToFloatRounding(GgmlType type) {
        int rows = 45;
        int cols = 512;
        int tokens = 2 * MatMul.TILED_MIN_TOKENS + 3;
        Random random = new Random(type.ordinal());
        WeightKernel kernel = WeightKernel.of(type);
        Matrix w = randomMatrix(type, rows, cols, random);
        Activations batch = randomActivations(tokens, cols, random);
        float[] together = new float[tokens * rows];
        MatMul matmul = new MatMul(PARALLEL);
        matmul.multiply(w, batch, together);
        Activations one = new Activations(1, cols);
        float[] alone = new float[rows];
        // Q4_1 and Q5_1 take the activations' block sums through an f16 (as llama.cpp does) on the
        // token path only: there the paths differ by that rounding of each block's offset term,
        // a few hundredths over 16 blocks of unit-variance data.
        float absolute = kernel.activationFormat() == ActivationFormat.Q8_1 ? 0.08f : 1e-4f;
        for (int t = 0; t < tokens; t++) {
            System.arraycopy(batch.values(), t * cols, one.values(), 0, cols);
            one.update(1);
            matmul.multiply(w, one, alone);
            for (int r = 0; r < rows; r++) {
                assertThat(together[t * rows + r]).as("token %d row %d", t, r)
                        .isCloseTo(alone[r], org.assertj.core.data.Offset.offset(absolute + 1e-4f * Math.abs(alone[r])));
            }
        }
    }

    /**
     * Few tokens meet each row together ({@link WeightKernel#dotFew}, in groups whose last one
     * overlaps the one before): every count, up to the first that takes the tiled path, gives
     * each token what it gets alone, with rows one at a time and, from
     * {@link MatMul#FEW_ROW_PAIRS_MIN_COLS} columns on, two at a time (stretches of odd length
     * included). The same activation values on both sides, summed in another order: float
     * rounding apart; two tokens exactly.
     */
    @ParameterizedTest
    @ValueSource(ints = {1024, MatMul.FEW_ROW_PAIRS_MIN_COLS + 64})
    void aFewTokensTogetherGiveWhatEachGivesAlone(int cols) {
        Random random = new Random(5);
        int rows = 131;
        Matrix w = randomMatrix(GgmlType.Q8_0, rows, cols, random);
        assertThat(w.kernel().multipliesFewTokens()).isTrue();
        float rounding = cols / 1024f; // sums in another order differ more, the longer they are
        MatMul matmul = new MatMul(PARALLEL);
        // Two tokens take each token's own product whatever the width: checked on short rows.
        int fewest = cols < MatMul.FEW_ROW_PAIRS_MIN_COLS ? 2 : MatMul.FEW_MIN_TOKENS;
        for (int tokens = fewest; tokens <= MatMul.FEW_TILED_MIN_TOKENS; tokens++) {
            Activations x = randomActivations(tokens, cols, random);
            float[] together = new float[tokens * rows];
            matmul.multiply(w, x, together);
            float[] alone = eachAlone(matmul, w, x);
            for (int i = 0; i < together.length; i++) {
                int t = i / rows;
                int r = i % rows;
                if (tokens < MatMul.FEW_MIN_TOKENS) { // what speculative decoding's exact replies rest on
                    assertThat(together[i]).as("%d tokens: token %d row %d", tokens, t, r).isEqualTo(alone[i]);
                } else {
                    assertThat(together[i]).as("%d tokens: token %d row %d", tokens, t, r)
                            .isCloseTo(alone[i], org.assertj.core.data.Offset.offset(rounding * (1e-4f + 1e-5f * Math.abs(alone[i]))));
                }
            }
        }
    }

    /**
     * K-quants take tokens two by two up to the tiled path, each pair decoding a block once:
     * every count below it gives each token exactly what it gets alone (an odd last token takes
     * its own dot product), where the pairs share decoding (512-bit vectors) and where they do not.
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_K", "Q5_K", "Q6_K"})
    void tokensTwoByTwoGiveExactlyWhatEachGivesAlone(GgmlType type) {
        Random random = new Random(7);
        int rows = 77;
        int cols = 768;
        Matrix w = randomMatrix(type, rows, cols, random);
        MatMul matmul = new MatMul(PARALLEL);
        for (int tokens = 2; tokens < MatMul.tiledMinTokens(w.kernel()); tokens++) {
            Activations x = randomActivations(tokens, cols, random);
            float[] together = new float[tokens * rows];
            matmul.multiply(w, x, together);
            float[] alone = eachAlone(matmul, w, x);
            for (int i = 0; i < together.length; i++) {
                assertThat(together[i]).as("%s, %d tokens: token %d row %d", type, tokens, i / rows, i % rows).isEqualTo(alone[i]);
            }
        }
    }

    /** {@code w} times each token of {@code x} on its own, laid out as a product of the whole batch. */
    private static float[] eachAlone(MatMul matmul, Matrix w, Activations x) {
        int rows = w.rows();
        int cols = w.cols();
        Activations one = new Activations(1, cols);
        float[] alone = new float[x.rows() * rows];
        float[] out = new float[rows];
        for (int t = 0; t < x.rows(); t++) {
            System.arraycopy(x.values(), t * cols, one.values(), 0, cols);
            one.update(1);
            matmul.multiply(w, one, out);
            System.arraycopy(out, 0, alone, t * rows, rows);
        }
        return alone;
    }

    @Test
    void matricesSharingAnInputGiveWhatTheyGiveAlone() {
        Random random = new Random(11);
        Matrix[] ws = {randomMatrix(GgmlType.Q4_K, 300, 512, random), randomMatrix(GgmlType.Q6_K, 64, 512, random),
            randomMatrix(GgmlType.Q8_0, 97, 512, random), randomMatrix(GgmlType.F32, 5, 512, random)};
        MatMul matmul = new MatMul(PARALLEL);
        for (int tokens : new int[] {1, 3, MatMul.TILED_MIN_TOKENS + 1}) {
            Activations x = randomActivations(tokens, 512, random);
            float[][] together = new float[ws.length][];
            for (int i = 0; i < ws.length; i++) {
                together[i] = new float[tokens * ws[i].rows()];
            }
            matmul.multiply(x, ws, together);
            for (int i = 0; i < ws.length; i++) {
                float[] alone = new float[tokens * ws[i].rows()];
                matmul.multiply(ws[i], x, alone);
                // Equal up to the order of a vector reduction, which the JIT may change as it compiles.
                assertThat(together[i]).as("matrix %d, %d tokens", i, tokens).containsExactly(alone, within(1e-3f));
            }
        }
    }

    @Test
    void matricesWithTheirOwnInputsGiveWhatTheyGiveAlone() {
        Random random = new Random(12);
        Matrix[] ws = {randomMatrix(GgmlType.Q8_0, 40, 256, random), randomMatrix(GgmlType.Q4_K, 33, 512, random),
            randomMatrix(GgmlType.F16, 7, 64, random)};
        MatMul matmul = new MatMul(PARALLEL);
        // Few tokens each (one pass over all rows), and one input with many (each product on its own).
        for (int many : new int[] {2, MatMul.TILED_MIN_TOKENS + 2}) {
            Activations[] xs = {randomActivations(1, 256, random), randomActivations(many, 512, random),
                randomActivations(3, 64, random)};
            float[][] together = new float[ws.length][];
            for (int i = 0; i < ws.length; i++) {
                together[i] = new float[xs[i].rows() * ws[i].rows()];
            }
            matmul.multiply(xs, ws, together);
            for (int i = 0; i < ws.length; i++) {
                float[] alone = new float[xs[i].rows() * ws[i].rows()];
                matmul.multiply(ws[i], xs[i], alone);
                assertThat(together[i]).as("matrix %d, %d tokens", i, xs[i].rows()).containsExactly(alone, within(1e-3f));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({
        "F32, 1, 37, 64", "F32, 9, 37, 64", "Q8_0, 1, 70, 256", "Q8_0, 3, 70, 256", "Q8_0, 13, 70, 256",
        "Q4_K, 1, 33, 512", "Q4_K, 8, 33, 512", "Q6_K, 17, 20, 256", "BF16, 5, 21, 96", "F16, 12, 19, 80",
        "Q5_1, 4, 40, 64", "Q4_0, 64, 50, 128"})
    void everyPathAgreesWithTheDequantizedProduct(GgmlType type, int tokens, int rows, int cols) {
        Random random = new Random(tokens * 31 + rows);
        WeightKernel kernel = WeightKernel.of(type);
        Matrix w = randomMatrix(type, rows, cols, random);
        Activations x = randomActivations(tokens, cols, random);
        float[] out = new float[tokens * rows];
        new MatMul(PARALLEL).multiply(w, x, out);

        // Activations quantized to int8 carry up to half a step of error per value.
        double relative = switch (kernel.activationFormat()) {
            case F32 -> 1e-4;
            case F16 -> 2e-3;
            case BF16 -> 1e-2;
            default -> 0.02;
        };
        assertAgreesWithDequantized(w, x, out, relative);
    }

    /** Each out[t][r] is W[r] · x[t] with W's rows decoded, within {@code relative} of the products' magnitude. */
    private static void assertAgreesWithDequantized(Matrix w, Activations x, float[] out, double relative) {
        int rows = w.rows();
        int cols = w.cols();
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            w.dequantizeRow(r, row, 0);
            for (int t = 0; t < x.rows(); t++) {
                double expected = 0;
                double magnitude = 0;
                for (int c = 0; c < cols; c++) {
                    expected += row[c] * x.values()[t * cols + c];
                    magnitude += Math.abs(row[c] * x.values()[t * cols + c]);
                }
                assertThat((double) out[t * rows + r]).as("token %d row %d", t, r)
                        .isCloseTo(expected, org.assertj.core.data.Offset.offset(relative * magnitude + 1e-6));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 200, 300", "3, 130, 128", "9, 200, 300", "16, 257, 129"})
    void blockScaledFp8AgreesWithTheDequantizedProductOnEveryPath(int tokens, int rows, int cols) {
        Random random = new Random(rows + cols);
        float[] weights = new float[rows * cols];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        int block = 128;
        int grid = Math.ceilDiv(cols, block);
        float[] scales = new float[Math.ceilDiv(rows, block) * grid];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = 0x1p-6f * (1 + i % 5); // a different scale for every block
        }
        WeightKernel kernel = WeightKernel.of(GgmlType.F8_E4M3);
        MemorySegment data = Arena.ofAuto().allocate((long) rows * cols);
        kernel.quantize(weights, 0, data, 0, weights.length);
        Matrix w = new Matrix("w", GgmlType.F8_E4M3, data, rows, cols, new BlockScales(scales, block, block));
        Activations x = randomActivations(tokens, cols, random);
        float[] out = new float[tokens * rows];
        new MatMul(PARALLEL).multiply(w, x, out);

        float[] row = new float[cols];
        float[] stored = new float[cols];
        for (int r = 0; r < rows; r++) {
            w.dequantizeRow(r, row, 0);
            kernel.dequantize(data, (long) r * cols, stored, 0, cols);
            for (int c = 0; c < cols; c++) {
                assertThat(row[c]).isEqualTo(stored[c] * scales[r / block * grid + c / block]);
            }
        }
        assertAgreesWithDequantized(w, x, out, 1e-4);
    }

    @Test
    void scalesThatDoNotCoverTheMatrixAreRefused() {
        MemorySegment data = Arena.ofAuto().allocate(300L * 200);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> new Matrix("w", GgmlType.F8_E4M3, data, 300, 200,
                new BlockScales(new float[4], 128, 128))).hasMessageContaining("do not fit 300 × 200");
    }
}
