package dev.fathom.model.safetensors;

import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.model.gguf.Requantizer;
import dev.fathom.model.safetensors.HuggingFaceCheckpoint.Tensor;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Matrix;
import dev.fathom.tensor.Parallel;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Writes a Hugging Face checkpoint as a GGUF file that llama.cpp loads: the translated metadata,
 * the weight matrices in the chosen type (with llama.cpp's fallbacks for rows that are not
 * whole blocks), norms, biases and expert routers in f32, as llama.cpp's converter keeps them.
 * FP8 weights are decoded with their block scales on the way. Attention keeps the checkpoint's
 * one {@code attn_kv_b} per layer, a layout llama.cpp and Fathom both read; the
 * multi-token-prediction layers are kept under GGUF's {@code nextn} names.
 */
public final class CheckpointConverter {
    private CheckpointConverter() {
    }

    public static void convert(HuggingFaceCheckpoint in, Path out, GgmlType target, Parallel parallel) throws IOException {
        GgufWriter writer = new GgufWriter();
        in.metadata().forEach(writer::put);
        writer.putUint32("general.file_type", Requantizer.fileType(target));
        for (Tensor t : in.tensors()) {
            long[] s = t.shape();
            if (s.length == 1) {
                writer.addTensor(t.name(), GgmlType.F32, s, in.vector(t.name(), s[0]));
                continue;
            }
            GgmlType type = Requantizer.isWeightMatrix(t.name(), s) ? Requantizer.typeFor(s[0], target) : GgmlType.F32;
            Matrix[] parts = s.length == 3 ? in.matrices(t.name(), s[0], s[1], (int) s[2])
                    : new Matrix[] {in.matrix(t.name(), s[0], s[1])};
            Requantizer.addConverted(writer, t.name(), s, type, parts, parallel);
        }
        writer.write(out);
    }
}
