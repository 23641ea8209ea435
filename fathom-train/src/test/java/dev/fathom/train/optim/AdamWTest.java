package dev.fathom.train.optim;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class AdamWTest {
    @Test
    void twoStepsMatchTheHandComputedExample() {
        // p = 1, lr = 0.1, betas 0.9 / 0.999, eps 1e-8, weight decay 0.01; gradients 0.5 then -0.25.
        // Step 1: m = 0.05, v = 0.00025, m̂ = 0.5, v̂ = 0.25, p = 1·(1 − 0.001) − 0.1·0.5/0.5 = 0.899.
        // Step 2: m = 0.02, v = 0.00031225, m̂ = 0.02/0.19, v̂ = 0.00031225/0.001999,
        //         p = 0.899·0.999 − 0.1·0.105263/0.395225 = 0.871467.
        AdamW adam = new AdamW(1, 0.9, 0.999, 1e-8, 0.01);
        float[] p = {1f};
        adam.step(p, new float[] {0.5f}, 0.1);
        assertThat((double) p[0]).isCloseTo(0.899, within(1e-6));
        adam.step(p, new float[] {-0.25f}, 0.1);
        assertThat((double) p[0]).isCloseTo(0.871467, within(1e-5));
    }

    @Test
    void clippingScalesTheWholeGradientToTheNorm() {
        float[] g = {3f, 4f};
        assertThat(AdamW.clipNorm(g, 1.0)).isEqualTo(5.0);
        assertThat(g).containsExactly(0.6f, 0.8f);
        float[] small = {0.3f, 0.4f};
        AdamW.clipNorm(small, 1.0);
        assertThat(small).containsExactly(0.3f, 0.4f);
    }

    @Test
    void theScheduleWarmsUpThenDecaysAlongACosine() {
        AdamW.Schedule s = new AdamW.Schedule(1e-3, 10, 110, 0.1);
        assertThat(s.at(0)).isCloseTo(1e-4, within(1e-12));
        assertThat(s.at(9)).isCloseTo(1e-3, within(1e-12));
        assertThat(s.at(60)).isCloseTo(1e-3 * (0.1 + 0.9 * 0.5), within(1e-12)); // halfway down the cosine
        assertThat(s.at(110)).isCloseTo(1e-4, within(1e-12));
        assertThat(s.at(500)).isCloseTo(1e-4, within(1e-12));
    }
}
