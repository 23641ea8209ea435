package dev.fathom.tensor.bench;

import dev.fathom.tensor.Activations;
import dev.fathom.tensor.BlockScales;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.MatMul;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.Parallel;
import dev.fathom.tensor.kernel.WeightKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Matrix products of one weight type at the R1-Distill-Qwen-1.5B FFN shape (8960 × 1536, or
 * with {@code -p rows=151936} its output head's, too large for the caches): a single token
 * (decode; report bytes/s = matrix bytes / time) and a batch of tokens (prefill: compute-bound).
 * Run with bench/kernels.sh.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector"})
public class KernelBenchmark {
    @Param({"Q8_0", "Q4_K", "Q6_K", "F8_E4M3"})
    public String type;

    @Param({"1", "64"})
    public int tokens;

    @Param({"2"})
    public int threads;

    /** 8960: the FFN's rows, a matrix the caches hold; 151936: the output head's, streamed from memory. */
    @Param({"8960"})
    public int rows;

    /** 1536: the hidden size; 8960 (with {@code -p rows=1536}): the FFN's down projection, long rows. */
    @Param({"1536"})
    public int cols;

    private Parallel parallel;
    private MatMul matmul;
    private Matrix matrix;
    private Activations input;
    private float[] output;

    @Setup(Level.Trial)
    public void setUp() {
        GgmlType t = GgmlType.valueOf(type);
        WeightKernel kernel = WeightKernel.of(t);
        MemorySegment data = Arena.global().allocate(rows * t.bytesFor(cols), 64);
        SplittableRandom random = new SplittableRandom(1);
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) {
                row[i] = (float) random.nextGaussian();
            }
            kernel.quantize(row, 0, data, r * t.bytesFor(cols), cols);
        }
        // FP8 as DeepSeek's checkpoints store it: a scale per block of 128 × 128.
        BlockScales scales = t == GgmlType.F8_E4M3
                ? new BlockScales(ones(Math.ceilDiv(rows, 128) * Math.ceilDiv(cols, 128)), 128, 128) : null;
        matrix = new Matrix("w", t, data, rows, cols, scales);
        input = new Activations(tokens, cols);
        for (int i = 0; i < tokens * cols; i++) {
            input.values()[i] = (float) random.nextGaussian();
        }
        output = new float[tokens * rows];
        parallel = new Parallel(threads);
        matmul = new MatMul(parallel);
    }

    private static float[] ones(int n) {
        float[] a = new float[n];
        java.util.Arrays.fill(a, 1f);
        return a;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        parallel.close();
    }

    @Benchmark
    public float[] multiply() {
        input.update(tokens); // the activations are quantized again, as in a real forward pass
        matmul.multiply(matrix, input, output);
        return output;
    }
}
