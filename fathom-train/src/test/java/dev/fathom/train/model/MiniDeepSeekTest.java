package dev.fathom.train.model;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.tensor.Parallel;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The whole model's backward pass against central differences of its loss, in double precision,
 * along a random direction in each parameter tensor and in all of them at once (routing frozen,
 * so a perturbation cannot flip an expert choice); and the invariants of a trainer: the loss at initialisation is about
 * ln(vocabulary), one batch can be learnt by heart, the balancing bias evens out expert load.
 */
class MiniDeepSeekTest {
    static final ModelConfig TINY = new ModelConfig(37, 16, 3, 1, 2, 12, 8, 4, 4, 6, 24, 4, 2, 8, 10000, 32);
    private static Parallel parallel;

    @BeforeAll
    static void start() {
        parallel = new Parallel(2);
    }

    @AfterAll
    static void stop() {
        parallel.close();
    }

    private static MiniDeepSeek model(ModelConfig config, long seed) {
        Parameters parameters = Parameters.of(config);
        parameters.initialize(config, 0.3, seed);
        return new MiniDeepSeek(config, parameters, parallel);
    }

    private static int[] tokens(int count, int vocabulary, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] tokens = new int[count];
        for (int i = 0; i < count; i++) {
            tokens[i] = random.nextInt(vocabulary);
        }
        return tokens;
    }

    @Test
    void everyTensorsGradientMatchesCentralDifferencesOfTheLoss() {
        MiniDeepSeek model = model(TINY, 1);
        int sequences = 2;
        int length = 7;
        int[] inputs = tokens(sequences * length, TINY.vocabulary(), 2);
        int[] targets = tokens(sequences * length, TINY.vocabulary(), 3);
        double[] weights = new double[inputs.length];
        SplittableRandom random = new SplittableRandom(4);
        for (int i = 0; i < weights.length; i++) {
            weights[i] = random.nextDouble() < 0.8 ? 1 : 0; // some tokens out of the loss, as in SFT
        }
        double[] coefficients = new double[inputs.length];
        model.forward(inputs, sequences, length);
        model.crossEntropy(targets, weights, coefficients);
        model.zeroGradients();
        model.backward(targets, coefficients);
        model.freezeRouting(true);
        double[] theta = model.parameters().values();
        double[] gradient = model.gradients().values();
        double h = 1e-5;
        for (Parameters.Tensor t : model.parameters().tensors()) {
            double[] direction = new double[t.size()];
            double analytic = 0;
            for (int i = 0; i < direction.length; i++) {
                direction[i] = random.nextGaussian();
                analytic += direction[i] * gradient[t.offset() + i];
            }
            shift(theta, t.offset(), direction, h);
            model.forward(inputs, sequences, length);
            double plus = model.crossEntropy(targets, weights, coefficients);
            shift(theta, t.offset(), direction, -2 * h);
            model.forward(inputs, sequences, length);
            double minus = model.crossEntropy(targets, weights, coefficients);
            shift(theta, t.offset(), direction, h);
            double numeric = (plus - minus) / (2 * h);
            assertThat(Math.abs(analytic - numeric)).as("%s: analytic %s, numeric %s", t.name(), analytic, numeric)
                    .isLessThanOrEqualTo(1e-6 * Math.max(1, Math.abs(numeric)));
        }
        // And along one direction in every parameter at once (of unit length, so that the step
        // stays as small): the whole model's directional derivative.
        double[] direction = new double[theta.length];
        double norm = 0;
        for (int i = 0; i < direction.length; i++) {
            direction[i] = random.nextGaussian();
            norm += direction[i] * direction[i];
        }
        double analytic = 0;
        for (int i = 0; i < direction.length; i++) {
            direction[i] /= Math.sqrt(norm);
            analytic += direction[i] * gradient[i];
        }
        shift(theta, 0, direction, h);
        model.forward(inputs, sequences, length);
        double plus = model.crossEntropy(targets, weights, coefficients);
        shift(theta, 0, direction, -2 * h);
        model.forward(inputs, sequences, length);
        double minus = model.crossEntropy(targets, weights, coefficients);
        shift(theta, 0, direction, h);
        double numeric = (plus - minus) / (2 * h);
        assertThat(Math.abs(analytic - numeric)).as("whole model: analytic %s, numeric %s", analytic, numeric)
                .isLessThanOrEqualTo(1e-6 * Math.abs(numeric));
    }

    private static void shift(double[] theta, int at, double[] direction, double step) {
        for (int i = 0; i < direction.length; i++) {
            theta[at + i] += step * direction[i];
        }
    }

    @Test
    void theLossAtInitialisationIsAboutLnOfTheVocabulary() {
        MiniDeepSeek model = model(TINY, 5);
        Parameters fresh = Parameters.of(TINY);
        fresh.initialize(TINY, 0.02, 5);
        model = new MiniDeepSeek(TINY, fresh, parallel);
        int[] inputs = tokens(4 * 16, TINY.vocabulary(), 6);
        model.forward(inputs, 4, 16);
        double loss = model.crossEntropy(tokens(inputs.length, TINY.vocabulary(), 7), ones(inputs.length),
                new double[inputs.length]);
        assertThat(loss).isCloseTo(Math.log(TINY.vocabulary()), org.assertj.core.data.Offset.offset(0.05));
    }

    @Test
    void oneBatchIsLearntByHeart() {
        Parameters parameters = Parameters.of(TINY);
        parameters.initialize(TINY, 0.1, 8);
        MiniDeepSeek model = new MiniDeepSeek(TINY, parameters, parallel);
        int[] inputs = tokens(2 * 12, TINY.vocabulary(), 9);
        int[] targets = tokens(inputs.length, TINY.vocabulary(), 10);
        double[] weights = ones(inputs.length);
        double[] coefficients = new double[inputs.length];
        dev.fathom.train.optim.AdamW adam = new dev.fathom.train.optim.AdamW(parameters.size(), 0.9, 0.95, 1e-8, 0);
        double first = 0;
        double loss = 0;
        for (int step = 0; step < 300; step++) {
            model.forward(inputs, 2, 12);
            loss = model.crossEntropy(targets, weights, coefficients);
            if (step == 0) {
                first = loss;
            }
            model.zeroGradients();
            model.backward(targets, coefficients);
            adam.step(parameters.values(), model.gradients().values(), 1e-2);
        }
        assertThat(first).isGreaterThan(3);
        assertThat(loss).as("loss after 300 steps").isLessThan(0.05);
    }

    @Test
    void theBalancingBiasEvensOutASkewedLoad() {
        MiniDeepSeek model = model(TINY, 11);
        // A direction every token's embedding shares, which layer 1's router reads as a strong
        // vote for experts 0 and 1: every token goes to them, a skewed load.
        Parameters.Tensor embedding = model.parameters().tensor("token_embd.weight");
        Parameters.Tensor router = model.parameters().tensor("blk.1.ffn_gate_inp.weight");
        double[] theta = model.parameters().values();
        for (int v = 0; v < TINY.vocabulary(); v++) {
            theta[embedding.offset() + v * TINY.dim()] += 1;
        }
        theta[router.offset()] += 4;
        theta[router.offset() + TINY.dim()] += 4;
        int[] inputs = tokens(4 * 16, TINY.vocabulary(), 12);
        model.forward(inputs, 4, 16);
        double before = model.balanceLoad(0)[1];
        double after = 0; // the largest load over the mean, averaged over the last 100 steps
        for (int step = 0; step < 500; step++) {
            model.forward(inputs, 4, 16);
            double imbalance = model.balanceLoad(0.002)[1];
            if (step >= 400) {
                after += imbalance / 100;
            }
        }
        assertThat(before).isGreaterThan(1.6);
        assertThat(after).as("largest load over the mean, before %s", before).isLessThan(1.25);
    }

    private static double[] ones(int n) {
        double[] w = new double[n];
        java.util.Arrays.fill(w, 1);
        return w;
    }
}
