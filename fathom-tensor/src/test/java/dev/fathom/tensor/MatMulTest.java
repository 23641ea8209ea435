package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MatMulTest {
    private static final Parallel PARALLEL = new Parallel(2);

    @AfterAll
    static void close() {
        PARALLEL.close();
    }

    @ParameterizedTest
    @CsvSource({
        "F32, 1, 37, 64", "F32, 9, 37, 64", "Q8_0, 1, 70, 256", "Q8_0, 3, 70, 256", "Q8_0, 13, 70, 256",
        "Q4_K, 1, 33, 512", "Q4_K, 8, 33, 512", "Q6_K, 17, 20, 256", "BF16, 5, 21, 96", "F16, 12, 19, 80",
        "Q5_1, 4, 40, 64", "Q4_0, 64, 50, 128"})
    void everyPathAgreesWithTheDequantizedProduct(GgmlType type, int tokens, int rows, int cols) {
        Random random = new Random(tokens * 31 + rows);
        WeightKernel kernel = WeightKernel.of(type);
        float[] weights = new float[rows * cols];
        for (int i = 0; i < weights.length; i++) {
            weights[i] = (float) random.nextGaussian();
        }
        MemorySegment data = Arena.ofAuto().allocate(rows * type.bytesFor(cols));
        for (int r = 0; r < rows; r++) {
            kernel.quantize(weights, r * cols, data, r * type.bytesFor(cols), cols);
        }
        Matrix w = new Matrix("w", type, data, rows, cols);
        Activations x = new Activations(tokens, cols);
        for (int i = 0; i < tokens * cols; i++) {
            x.values()[i] = (float) random.nextGaussian();
        }
        x.update(tokens);
        float[] out = new float[tokens * rows];
        new MatMul(PARALLEL).multiply(w, x, out);

        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            w.dequantizeRow(r, row, 0);
            for (int t = 0; t < tokens; t++) {
                double expected = 0;
                double magnitude = 0;
                for (int c = 0; c < cols; c++) {
                    expected += row[c] * x.values()[t * cols + c];
                    magnitude += Math.abs(row[c] * x.values()[t * cols + c]);
                }
                // Activations quantized to int8 carry up to half a step of error per value.
                double tolerance = kernel.activationFormat() == ActivationFormat.F32 ? 1e-4 * magnitude : 0.02 * magnitude;
                assertThat((double) out[t * rows + r]).as("token %d row %d", t, r)
                        .isCloseTo(expected, org.assertj.core.data.Offset.offset(tolerance + 1e-6));
            }
        }
    }
}
