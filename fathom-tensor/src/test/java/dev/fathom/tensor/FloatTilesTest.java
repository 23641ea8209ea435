package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The tiled float products against plain loops in double, on shapes with whole tiles and leftovers. */
class FloatTilesTest {

    private static float[] gaussian(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    @ParameterizedTest
    @CsvSource({"1, 1, 5", "4, 4, 64", "9, 7, 83", "12, 13, 576", "5, 26, 17"})
    void productsAreTheDotProductsOfEveryPairOfRows(int aRows, int bRows, int k) {
        Random random = new Random(aRows * 31 + bRows);
        int aStride = k + 2; // rows with gaps, as a head's slice of cached rows
        int bStride = k;
        float[] a = gaussian(random, 3 + aRows * aStride);
        float[] b = gaussian(random, 2 + bRows * bStride);
        int stride = bRows + 5;
        float[] out = new float[7 + aRows * stride];
        FloatTiles.products(a, 3, aStride, aRows, b, 2, bStride, bRows, k, out, 7, stride);
        for (int i = 0; i < aRows; i++) {
            for (int j = 0; j < bRows; j++) {
                double expected = 0;
                for (int c = 0; c < k; c++) {
                    expected += (double) a[3 + i * aStride + c] * b[2 + j * bStride + c];
                }
                assertThat(out[7 + i * stride + j]).as("(%d, %d)", i, j).isCloseTo((float) expected, within(1e-4f * k));
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"1, 1, 3", "4, 64, 64", "9, 33, 79", "16, 70, 512", "6, 5, 8"})
    void weightedSumsAddEachRowsWeightingOfTheValueRows(int rows, int count, int width) {
        Random random = new Random(rows * 131 + count);
        int pStride = count + 3;
        int vStride = width + 2;
        int outStride = width + 1;
        float[] p = gaussian(random, 1 + rows * pStride);
        float[] v = gaussian(random, 4 + count * vStride);
        float[] out = gaussian(random, 5 + rows * outStride);
        float[] before = out.clone();
        FloatTiles.weightedSums(p, 1, pStride, rows, v, 4, vStride, count, width, out, 5, outStride);
        for (int i = 0; i < rows; i++) {
            for (int c = 0; c < width; c++) {
                double expected = before[5 + i * outStride + c];
                for (int t = 0; t < count; t++) {
                    expected += (double) p[1 + i * pStride + t] * v[4 + t * vStride + c];
                }
                assertThat(out[5 + i * outStride + c]).as("(%d, %d)", i, c).isCloseTo((float) expected, within(1e-4f * count));
            }
        }
        assertThat(out[4 + outStride]).as("the gap between rows is left alone").isEqualTo(before[4 + outStride]);
    }
}
