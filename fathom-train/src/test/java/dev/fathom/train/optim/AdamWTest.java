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
        double[] p = {1};
        adam.step(p, new double[] {0.5}, 0.1);
        assertThat(p[0]).isCloseTo(0.899, within(1e-6));
        adam.step(p, new double[] {-0.25}, 0.1);
        assertThat(p[0]).isCloseTo(0.871467, within(1e-5));
    }

    @Test
    void clippingScalesTheWholeGradientToTheNorm() {
        double[] g = {3, 4};
        assertThat(AdamW.clipNorm(g, 1.0)).isEqualTo(5.0);
        assertThat(g).containsExactly(new double[] {0.6, 0.8}, within(1e-12));
        double[] small = {0.3, 0.4};
        AdamW.clipNorm(small, 1.0);
        assertThat(small).containsExactly(0.3, 0.4);
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
