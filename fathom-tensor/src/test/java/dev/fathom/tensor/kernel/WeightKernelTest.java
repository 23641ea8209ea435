package dev.fathom.tensor.kernel;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.tensor.ActivationFormat;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.QuantizedVector;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.Test;

class WeightKernelTest {
    private static final int N = 1024;

    static float[] gaussian(Random random, int n, float std) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian() * std;
        }
        return x;
    }

    /** Relative RMS error a quantizer of this type should stay under on Gaussian data. */
    static double tolerance(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1e-3;
            case BF16 -> 5e-3;
            case Q8_0 -> 0.01;
            case Q6_K -> 0.05;
            case Q5_0, Q5_1, Q5_K -> 0.07;
            case Q4_0, Q4_1, Q4_K -> 0.14;
            case F8_E4M3 -> 0.04;
            default -> throw new AssertionError(type);
        };
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "F8_E4M3"})
    void quantizeThenDequantizeStaysClose(GgmlType type) {
        WeightKernel kernel = WeightKernel.of(type);
        float[] x = gaussian(new Random(1), N, 0.5f);
        MemorySegment data = Arena.ofAuto().allocate(type.bytesFor(N));
        kernel.quantize(x, 0, data, 0, N);
        float[] back = new float[N];
        kernel.dequantize(data, 0, back, 0, N);
        double err = 0;
        double norm = 0;
        for (int i = 0; i < N; i++) {
            err += (back[i] - x[i]) * (back[i] - x[i]);
            norm += x[i] * x[i];
        }
        assertThat(Math.sqrt(err / norm)).isLessThanOrEqualTo(tolerance(type));
    }

    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "F8_E4M3"})
    void dotMatchesDequantizedReference(GgmlType type) {
        Random random = new Random(7);
        for (int trial = 0; trial < 20; trial++) {
            int n = 256 * (1 + random.nextInt(8));
            float[] w = gaussian(random, n, 0.1f + random.nextFloat());
            float[] x = gaussian(random, n, 0.1f + 3 * random.nextFloat());
            if (trial == 0) {
                java.util.Arrays.fill(w, 0, 256, 0f); // all-zero blocks must not produce NaN
            }
            // Extreme values exercise the full range of every quant field.
            x[random.nextInt(n)] = 40f;
            w[random.nextInt(n)] = -7f;
            assertDotMatchesReference(type, w, x, "trial " + trial);
        }
    }

    /**
     * The largest products the integer kernels add up in one lane: every weight at one end of its
     * quants' range (a zero in each 32 gives the K-quants' minimum), every activation ±127 and of
     * one sign. The 16-bit halves of the paired products (see {@code Lanes}) and Q8_0's short
     * sums are then as full as they get. Types of 32-value blocks get three blocks more than a
     * multiple of four, for the kernels that take blocks four at a time.
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    void dotStaysExactAtTheLargestQuantsAndActivations(GgmlType type) {
        for (float weight : new float[] {1, -1}) {
            for (float activation : new float[] {1, -1}) {
                int n = type.blockSize == 32 ? N + 96 : N;
                float[] w = new float[n];
                float[] x = new float[n];
                for (int i = 0; i < n; i++) {
                    w[i] = i % 32 == 5 ? 0 : weight;
                    x[i] = activation;
                }
                assertDotMatchesReference(type, w, x, "weights " + weight + ", activations " + activation);
            }
        }
    }

    /**
     * Block scales across the f16 range: weights so small that their scales are f16 subnormals,
     * and large ones. The 512-bit kernels of the 32-value types decode the scales of four blocks
     * at once with integer operations rather than one by one, so each range is checked.
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q4_0", "Q4_1", "Q5_0", "Q5_1"})
    void dotReadsScalesOfEveryF16Range(GgmlType type) {
        Random random = new Random(11);
        for (float magnitude : new float[] {1e-6f, 2e-5f, 1f, 3e3f}) {
            float[] w = gaussian(random, N + 96);
            for (int i = 0; i < w.length; i++) {
                w[i] *= magnitude;
            }
            assertDotMatchesReference(type, w, gaussian(random, w.length), "weights of magnitude " + magnitude);
        }
    }

    /** Two tokens against one row (a draft being checked) get exactly what each gets alone. */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"})
    void aPairOfTokensGetsWhatEachGetsAlone(GgmlType type) {
        WeightKernel kernel = WeightKernel.of(type);
        Random random = new Random(17);
        int n = 3 * 256;
        MemorySegment data = Arena.ofAuto().allocate(type.bytesFor(n) + 64).asSlice(5, type.bytesFor(n));
        kernel.quantize(gaussian(random, n), 0, data, 0, n);
        QuantizedVector qa = new QuantizedVector(kernel.activationFormat(), n);
        QuantizedVector qb = new QuantizedVector(kernel.activationFormat(), n);
        qa.quantize(gaussian(random, n), 0, n);
        qb.quantize(gaussian(random, n), 0, n);
        float[] out = new float[5];
        kernel.dotPair(data, 0, qa, qb, n, out, 1, 3);
        assertThat(out[1]).as("%s, first token", type).isEqualTo(kernel.dot(data, 0, null, 0, qa, n));
        assertThat(out[3]).as("%s, second token", type).isEqualTo(kernel.dot(data, 0, null, 0, qb, n));
        assertThat(out[0] + out[2] + out[4]).isZero();
    }

    /**
     * Rows taken several at a time (a decode step's matrix-vector product) get exactly what
     * each gets alone, with an odd count so that a kernel taking rows in pairs has one left over,
     * and for types of 32-value blocks three blocks more than a multiple of four.
     */
    @ParameterizedTest
    @EnumSource(value = GgmlType.class, names = {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K", "F8_E4M3"})
    void rowsTakenTogetherGetWhatEachGetsAlone(GgmlType type) {
        WeightKernel kernel = WeightKernel.of(type);
        Random random = new Random(23);
        int n = 6 * 256 + (type.blockSize == 32 ? 96 : 0);
        int rows = 7;
        long rowBytes = type.bytesFor(n);
        MemorySegment data = Arena.ofAuto().allocate(rows * rowBytes + 64).asSlice(3, rows * rowBytes);
        for (int r = 0; r < rows; r++) {
            kernel.quantize(gaussian(random, n), 0, data, r * rowBytes, n);
        }
        float[] x = gaussian(random, n);
        QuantizedVector qx = null;
        if (kernel.activationFormat().quantized) {
            qx = new QuantizedVector(kernel.activationFormat(), n);
            qx.quantize(x, 0, n);
        }
        float[] out = new float[rows + 2];
        kernel.dotRows(data, 0, rowBytes, rows, x, 0, qx, n, out, 1);
        for (int r = 0; r < rows; r++) {
            assertThat(out[1 + r]).as("%s, row %d", type, r).isEqualTo(kernel.dot(data, r * rowBytes, x, 0, qx, n));
        }
        assertThat(out[0] + out[rows + 1]).isZero();
    }

    private static float[] gaussian(Random random, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) random.nextGaussian();
        }
        return x;
    }

    /** The kernel's dot product of w and x against the exact product of what their quantizations represent. */
    private static void assertDotMatchesReference(GgmlType type, float[] w, float[] x, String label) {
        WeightKernel kernel = WeightKernel.of(type);
        int n = w.length;
        MemorySegment data = Arena.ofAuto().allocate(type.bytesFor(n) + 64).asSlice(3, type.bytesFor(n));
        kernel.quantize(w, 0, data, 0, n);
        float[] wq = new float[n];
        kernel.dequantize(data, 0, wq, 0, n);

        ActivationFormat format = kernel.activationFormat();
        float[] xq = x.clone();
        QuantizedVector qx = null;
        if (format.quantized) {
            qx = new QuantizedVector(format, n);
            qx.quantize(x, 0, n);
            for (int i = 0; i < n; i++) {
                xq[i] = qx.d[i / format.blockSize] * qx.q[i];
            }
        }
        double expected = 0;
        double magnitude = 0;
        for (int i = 0; i < n; i++) {
            expected += (double) wq[i] * xq[i];
            magnitude += Math.abs((double) wq[i] * xq[i]);
        }
        float actual = kernel.dot(data, 0, x, 0, qx, n);
        // Q4_1 and Q5_1 take the activations' block sums through an f16, as llama.cpp does.
        double slack = format == ActivationFormat.Q8_1 ? 2e-3 : 1e-5;
        assertThat(actual).as("%s, %s", type, label).isCloseTo((float) expected,
                org.assertj.core.data.Offset.offset((float) (slack * magnitude + 1e-6)));
    }

    @Test
    void dotReadsFloatActivationsFromTheOffset() {
        WeightKernel kernel = WeightKernel.of(GgmlType.F32);
        float[] w = {1, 2, 3, 4};
        MemorySegment data = Arena.ofAuto().allocate(16);
        kernel.quantize(w, 0, data, 0, 4);
        float[] x = {100, 100, 1, 1, 1, 1};
        assertThat(kernel.dot(data, 0, x, 2, null, 4)).isEqualTo(10f);
    }

    /** E4M3 by its definition: sign, exponent bias 7, subnormals at exponent 0, largest 448. */
    private static double e4m3(int code) {
        int e = code >> 3 & 0xF;
        int m = code & 7;
        double magnitude = e == 0 ? m * Math.pow(2, -9) : (1 + m / 8.0) * Math.pow(2, e - 7);
        return (code & 0x80) != 0 ? -magnitude : magnitude;
    }

    @Test
    void everyFp8CodeDecodesToItsValueAndBack() {
        WeightKernel kernel = WeightKernel.of(GgmlType.F8_E4M3);
        MemorySegment codes = Arena.ofAuto().allocate(256);
        for (int c = 0; c < 256; c++) {
            codes.set(java.lang.foreign.ValueLayout.JAVA_BYTE, c, (byte) c);
        }
        float[] values = new float[256];
        kernel.dequantize(codes, 0, values, 0, 256); // vector path
        for (int c = 0; c < 256; c++) {
            if ((c & 0x7F) == 0x7F) {
                continue; // NaN codes
            }
            assertThat((double) values[c]).as("code %02x", c).isEqualTo(e4m3(c));
            assertThat((double) F8E4M3Kernel.toFloat((byte) c)).as("scalar code %02x", c).isEqualTo(e4m3(c));
            assertThat(F8E4M3Kernel.fromFloat(values[c]) & 0xFF).as("code %02x", c).isEqualTo(c);
        }
        assertThat(values[0x7E]).isEqualTo(448f);
        assertThat(F8E4M3Kernel.fromFloat(1e6f)).isEqualTo((byte) 0x7E); // saturates
        assertThat(F8E4M3Kernel.fromFloat(-1e6f)).isEqualTo((byte) 0xFE);
        assertThat(F8E4M3Kernel.fromFloat(1.0625f)).isEqualTo((byte) 0x38); // tie between 1 and 1.125: even code
        assertThat(F8E4M3Kernel.fromFloat(1.1875f)).isEqualTo((byte) 0x3A); // tie between 1.125 and 1.25
        assertThat(F8E4M3Kernel.fromFloat(0x1p-10f)).isEqualTo((byte) 0); // half the smallest subnormal: even
    }

    @Test
    void unsupportedTypeNamesTheSupportedOnes() {
        assertThatThrownBy(() -> WeightKernel.of(GgmlType.IQ2_XXS))
                .hasMessageContaining("IQ2_XXS is not supported")
                .hasMessageContaining("Q4_K");
    }
}
