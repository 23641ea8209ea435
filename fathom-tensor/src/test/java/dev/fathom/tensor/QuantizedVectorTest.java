package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

class QuantizedVectorTest {
    @Test
    void q8_0RoundsHalfToEvenWithAnF16Scale() {
        float[] x = new float[32];
        x[0] = 127;
        x[1] = 2.5f;
        x[2] = 3.5f;
        x[3] = -127;
        QuantizedVector q = new QuantizedVector(ActivationFormat.Q8_0, 32);
        q.quantize(x, 0, 32);
        assertThat(q.d[0]).isEqualTo(1f);
        assertThat(q.q[1]).isEqualTo((short) 2);
        assertThat(q.q[2]).isEqualTo((short) 4);
        assertThat(q.q[3]).isEqualTo((short) -127);
        assertThat(q.sums[0]).isEqualTo(127 + 2 + 4 - 127);
    }

    @Test
    void q8_KMapsTheLargestMagnitudeToMinus127AndSumsGroupsOf16() {
        Random random = new Random(3);
        float[] x = new float[512];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) random.nextGaussian();
        }
        x[17] = 9;
        QuantizedVector q = new QuantizedVector(ActivationFormat.Q8_K, 512);
        q.quantize(x, 0, 512);
        assertThat(q.q[17]).isEqualTo((short) -127);
        assertThat(q.d[0]).isNegative();
        for (int g = 0; g < 32; g++) {
            int sum = 0;
            for (int i = 0; i < 16; i++) {
                sum += q.q[g * 16 + i];
            }
            assertThat(q.sums16[g]).isEqualTo(sum);
        }
        for (int s = 0; s < 16; s++) { // each block's eight sums after eight zeros
            assertThat(q.sums32[s / 8 * 16 + s % 8]).isZero();
            assertThat(q.sums32[s / 8 * 16 + 8 + s % 8]).isEqualTo(q.sums16[2 * s] + q.sums16[2 * s + 1]);
        }
        for (int i = 0; i < 512; i++) {
            assertThat(q.d[i / 256] * q.q[i]).isCloseTo(x[i], org.assertj.core.data.Offset.offset(Math.abs(q.d[i / 256])));
        }
    }

    @Test
    void zeroBlocksQuantizeToZero() {
        QuantizedVector q = new QuantizedVector(ActivationFormat.Q8_K, 256);
        q.quantize(new float[256], 0, 256);
        assertThat(q.d[0]).isZero();
        assertThat(q.q).containsOnly((short) 0);
    }
}
