package dev.fathom.model.gguf;

import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.Parallel;
import dev.fathom.tensor.kernel.WeightKernel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a GGUF file's tensors in another type, as llama.cpp's quantizer chooses which to
 * change: the weight matrices (2-D and 3-D tensors named {@code *.weight}) except norms and the
 * experts' router, which keep their type. A matrix whose rows are not whole blocks of the target
 * type gets llama.cpp's fallback (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0), or F16 when that does
 * not fit either. Metadata is copied, with {@code general.file_type} set to the new type.
 */
public final class Requantizer {
    /** llama.cpp's {@code llama_ftype} of a file mostly in each type. */
    private static final Map<GgmlType, Integer> FILE_TYPES = Map.ofEntries(Map.entry(GgmlType.F32, 0),
            Map.entry(GgmlType.F16, 1), Map.entry(GgmlType.Q4_0, 2), Map.entry(GgmlType.Q4_1, 3),
            Map.entry(GgmlType.Q8_0, 7), Map.entry(GgmlType.Q5_0, 8), Map.entry(GgmlType.Q5_1, 9),
            Map.entry(GgmlType.Q4_K, 14), Map.entry(GgmlType.Q5_K, 16), Map.entry(GgmlType.Q6_K, 18),
            Map.entry(GgmlType.BF16, 32));

    private Requantizer() {
    }

    /** The types a file can be written in. */
    public static boolean supports(GgmlType type) {
        return FILE_TYPES.containsKey(type);
    }

    /** The type tensor {@code t} gets in a file written in {@code target}. */
    public static GgmlType typeFor(TensorInfo t, GgmlType target) {
        return isWeightMatrix(t.name(), t.shape()) ? typeFor(t.shape()[0], target) : t.type();
    }

    /** Whether a tensor is one of the weight matrices that a file's type applies to. */
    public static boolean isWeightMatrix(String name, long[] shape) {
        return shape.length >= 2 && name.endsWith("weight") && !name.contains("_norm.weight")
                && !name.contains("ffn_gate_inp.weight");
    }

    /** The type a weight matrix with rows of {@code cols} values gets in a file written in {@code target}. */
    public static GgmlType typeFor(long cols, GgmlType target) {
        if (cols % target.blockSize == 0) {
            return target;
        }
        GgmlType fallback = switch (target) {
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> GgmlType.F16;
        };
        return cols % fallback.blockSize == 0 ? fallback : GgmlType.F16;
    }

    /** The {@code general.file_type} of a file mostly in {@code target}. */
    public static int fileType(GgmlType target) {
        if (!supports(target)) {
            throw new IllegalArgumentException("cannot write a file in " + target);
        }
        return FILE_TYPES.get(target);
    }

    /** Writes {@code in} to {@code out} with its weight matrices in {@code target}, rows converted in parallel. */
    public static void requantize(GgufFile in, Path out, GgmlType target, Parallel parallel) throws IOException {
        GgufWriter writer = new GgufWriter();
        in.metadata().forEach(writer::put);
        writer.putUint32("general.file_type", fileType(target));
        for (TensorInfo t : in.tensors()) {
            GgmlType type = t.type().hasKernels() ? typeFor(t, target) : t.type();
            if (type == t.type()) {
                writer.addTensor(t.name(), type, t.shape(), o -> o.copyFrom(in.data(t)));
                continue;
            }
            int cols = (int) t.shape()[0];
            Matrix all = new Matrix(t.name(), t.type(), in.data(t), (int) (t.elements() / cols), cols);
            addConverted(writer, t.name(), t.shape(), type, new Matrix[] {all}, parallel);
        }
        writer.write(out);
    }

    /**
     * Adds tensor {@code name} to {@code writer}: the rows of {@code parts}, one after the other,
     * decoded and encoded in {@code type} in parallel when the file is written.
     */
    public static void addConverted(GgufWriter writer, String name, long[] shape, GgmlType type, Matrix[] parts,
            Parallel parallel) {
        int cols = (int) shape[0];
        WeightKernel to = WeightKernel.of(type);
        long outRow = type.bytesFor(cols);
        float[][] buffers = new float[parallel.threads()][cols];
        writer.addTensor(name, type, shape, o -> {
            long offset = 0;
            for (Matrix part : parts) {
                long base = offset;
                parallel.forRange(part.rows(), 64, (worker, first, last) -> {
                    float[] row = buffers[worker];
                    for (int r = first; r < last; r++) {
                        part.dequantizeRow(r, row, 0);
                        to.quantize(row, 0, o, base + r * outRow, cols);
                    }
                });
                offset += part.rows() * outRow;
            }
        });
    }
}
