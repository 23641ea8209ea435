package dev.fathom.model.generate;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {
    private static float[] logits() {
        return new float[] {1f, 5f, 3f, 4.9f, -2f, 0f, 2f, 4f};
    }

    private static SamplerSettings settings(float temperature, int topK, float topP, float minP, float repeat,
            float presence, float frequency, long seed) {
        return new SamplerSettings(temperature, topK, topP, minP, repeat, 64, presence, frequency, seed);
    }

    @Test
    void greedyPicksTheLargestLogit() {
        Sampler s = new Sampler(SamplerSettings.greedy(), 8);
        assertThat(s.sample(logits(), 0, new int[0], 0)).isEqualTo(1);
    }

    @Test
    void repetitionPenaltiesFollowLlamaCpp() {
        // token 1 seen twice: 5 / 2 - 2·0.5 - 1 = 0.5, below token 3 (4.9)
        Sampler s = new Sampler(settings(0, 0, 1, 0, 2f, 1f, 0.5f, 0), 8);
        float[] l = logits();
        assertThat(s.sample(l, 0, new int[] {1, 1, 4}, 3)).isEqualTo(3);
        assertThat(l[1]).isEqualTo(0.5f);
        assertThat(l[4]).isEqualTo(-2f * 2 - 0.5f - 1f); // negative logits are multiplied
    }

    @Test
    void topKLimitsTheCandidates() {
        Set<Integer> seen = new HashSet<>();
        Sampler s = new Sampler(settings(5f, 3, 1, 0, 1, 0, 0, 42), 8);
        for (int i = 0; i < 2000; i++) {
            seen.add(s.sample(logits(), 0, new int[0], 0));
        }
        assertThat(seen).containsExactlyInAnyOrder(1, 3, 7);
    }

    @Test
    void withoutTopKEveryTokenIsACandidateInOrder() {
        Set<Integer> seen = new HashSet<>();
        Sampler s = new Sampler(settings(3f, 0, 1, 0, 1, 0, 0, 9), 8);
        for (int i = 0; i < 5000; i++) {
            seen.add(s.sample(logits(), 0, new int[0], 0));
        }
        assertThat(seen).hasSize(8); // even -2 at temperature 3
        Sampler nucleus = new Sampler(settings(1f, 0, 0.5f, 0, 1, 0, 0, 7), 8);
        seen.clear();
        for (int i = 0; i < 2000; i++) {
            seen.add(nucleus.sample(new float[] {-1f, 5f, -3f, 4.9f, -2f, 0f, 2f, 4f}, 0, new int[0], 0));
        }
        assertThat(seen).containsExactlyInAnyOrder(1, 3); // negative logits sort below positive ones
    }

    @Test
    void topPAndMinPCutTheTail() {
        Set<Integer> seen = new HashSet<>();
        Sampler s = new Sampler(settings(1f, 0, 0.5f, 0, 1, 0, 0, 7), 8);
        for (int i = 0; i < 2000; i++) {
            seen.add(s.sample(logits(), 0, new int[0], 0));
        }
        assertThat(seen).containsExactlyInAnyOrder(1, 3); // p(1)≈0.39, p(3)≈0.35: together past one half
        seen.clear();
        Sampler minP = new Sampler(settings(1f, 0, 1, 0.5f, 1, 0, 0, 7), 8);
        for (int i = 0; i < 2000; i++) {
            seen.add(minP.sample(logits(), 0, new int[0], 0));
        }
        assertThat(seen).containsExactlyInAnyOrder(1, 3); // at least half as likely as the best: e^-0.1 yes, e^-1 no
    }

    @Test
    void theSameSeedDrawsTheSameTokens() {
        int[] a = new int[50];
        int[] b = new int[50];
        Sampler s1 = new Sampler(settings(1.5f, 0, 1, 0, 1, 0, 0, 1234), 8);
        Sampler s2 = new Sampler(settings(1.5f, 0, 1, 0, 1, 0, 0, 1234), 8);
        for (int i = 0; i < 50; i++) {
            a[i] = s1.sample(logits(), 0, new int[0], 0);
            b[i] = s2.sample(logits(), 0, new int[0], 0);
        }
        assertThat(a).containsExactly(b);
        assertThat(new HashSet<>(java.util.Arrays.stream(a).boxed().toList())).hasSizeGreaterThan(2);
    }
}
