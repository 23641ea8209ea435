package dev.fathom.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.tensor.kernel.VectorMath;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Products come out the same, bit for bit, before and after the JIT compiles the kernels. The
 * Vector API runs as plain Java in the interpreter and as instructions in C2; every lane-wise
 * step rounds the same in both, but the order of a horizontal sum is the implementation's
 * choice, and the kernels must not leave it to it: otherwise a token's logits depend on how warm
 * the process is, and two runs of one greedy prompt can part. A fresh JVM is the only place
 * where the first products are certainly interpreted, so the check runs in one.
 */
class JitTiersTest {
    private static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
        GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K};
    private static final int[] TOKENS = {1, 2, 3, MatMul.TILED_MIN_TOKENS + 1};

    @Test
    void productsAreTheSameInTheInterpreterAndInCompiledCode() throws IOException, InterruptedException {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElseThrow());
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(flag -> !flag.startsWith("-agentlib") && !flag.startsWith("-javaagent")).toList());
        command.addAll(List.of("-Xbatch", "-cp", System.getProperty("java.class.path"), Products.class.getName()));
        Process child = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(child.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(child.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(child.exitValue()).as(output).isZero();
        assertThat(output.lines().filter(line -> line.startsWith("differs")).toList()).as(output).isEmpty();
        assertThat(output).contains("compared " + TYPES.length * TOKENS.length + " products");
        assertThat(output).contains("compared attention's dot products and softmax");
    }

    /**
     * The child: every type and token count cold, then warm, and attention's dot products and
     * softmax likewise; each difference on a line of its own.
     */
    static final class Products {
        public static void main(String[] args) {
            try (Parallel parallel = new Parallel(2)) {
                MatMul matmul = new MatMul(parallel);
                Random random = new Random(3);
                List<Matrix> matrices = new ArrayList<>();
                List<Activations> inputs = new ArrayList<>();
                List<float[]> cold = new ArrayList<>();
                for (GgmlType type : TYPES) {
                    for (int tokens : TOKENS) {
                        Matrix w = MatMulTest.randomMatrix(type, 19, 512, random);
                        Activations x = MatMulTest.randomActivations(tokens, 512, random);
                        float[] out = new float[tokens * w.rows()];
                        matmul.multiply(w, x, out);
                        matrices.add(w);
                        inputs.add(x);
                        cold.add(out);
                    }
                }
                for (int round = 0; round < 3000; round++) {
                    for (int i = 0; i < matrices.size(); i++) {
                        matmul.multiply(matrices.get(i), inputs.get(i), new float[cold.get(i).length]);
                    }
                }
                for (int i = 0; i < matrices.size(); i++) {
                    float[] warm = new float[cold.get(i).length];
                    matmul.multiply(matrices.get(i), inputs.get(i), warm);
                    if (!Arrays.equals(warm, cold.get(i))) {
                        System.out.printf("differs: %s, %d tokens%n", matrices.get(i).type(), inputs.get(i).rows());
                    }
                }
                System.out.printf("compared %d products%n", matrices.size());
                float[] scores = new float[300];
                float[] keys = new float[300 * 128];
                for (int i = 0; i < keys.length; i++) {
                    keys[i] = (float) random.nextGaussian();
                }
                float[] coldScores = attentionScores(keys, scores);
                for (int round = 0; round < 3000; round++) {
                    attentionScores(keys, scores);
                }
                if (!Arrays.equals(attentionScores(keys, scores), coldScores)) {
                    System.out.println("differs: attention scores");
                }
                System.out.println("compared attention's dot products and softmax");
            }
        }

        /** Softmax of the first key against each of the 300 (128 values each). */
        private static float[] attentionScores(float[] keys, float[] scores) {
            for (int t = 0; t < scores.length; t++) {
                scores[t] = VectorMath.dot(keys, 0, keys, t * 128, 128) / 16;
            }
            VectorMath.softmax(scores, 0, scores.length);
            return scores.clone();
        }
    }
}
