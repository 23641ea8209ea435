package dev.fathom.model.gguf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Matrix;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufRoundTripTest {
    @TempDir
    Path dir;

    private Path writeSample() throws IOException {
        GgufWriter w = new GgufWriter()
                .putString("general.architecture", "llama")
                .put("u8", GgufValue.of(GgufType.UINT8, 200))
                .put("i8", GgufValue.of(GgufType.INT8, -5))
                .put("u16", GgufValue.of(GgufType.UINT16, 65000))
                .put("i16", GgufValue.of(GgufType.INT16, -30000))
                .putUint32("u32", 4_000_000_000L)
                .putInt32("i32", -7)
                .putFloat32("f32", 1.5f)
                .putBool("bool", true)
                .put("u64", GgufValue.of(GgufType.UINT64, 1L << 40))
                .put("i64", GgufValue.of(GgufType.INT64, -(1L << 40)))
                .put("f64", GgufValue.of(GgufType.FLOAT64, 2.25))
                .putString("unicode", "深度求索 🐋")
                .putStrings("strings", new String[] {"a", "", "ü"})
                .putInt32s("ints", new int[] {1, -2, 3})
                .putFloat32s("floats", new float[] {0.5f, -1f})
                .put("bools", GgufValue.array(GgufType.BOOL, new boolean[] {true, false}))
                .put("u8s", GgufValue.array(GgufType.UINT8, new int[] {255, 0}))
                .put("u64s", GgufValue.array(GgufType.UINT64, new long[] {1L << 50}))
                .put("f64s", GgufValue.array(GgufType.FLOAT64, new double[] {1e300}));
        float[] m = new float[64 * 3];
        for (int i = 0; i < m.length; i++) {
            m[i] = i / 64f;
        }
        w.addTensor("m", GgmlType.F32, new long[] {64, 3}, m);
        w.addTensor("q", GgmlType.Q8_0, new long[] {64, 3}, m);
        w.addTensor("v", GgmlType.F32, new long[] {5}, new float[] {1, 2, 3, 4, 5});
        Path p = dir.resolve("sample.gguf");
        w.write(p);
        return p;
    }

    @Test
    void everyMetadataTypeAndTensorSurvivesARoundTrip() throws IOException {
        try (GgufFile f = GgufFile.open(writeSample())) {
            assertThat(f.version()).isEqualTo(3);
            assertThat(f.metadata().keySet()).startsWith("general.architecture", "u8", "i8");
            assertThat(f.getString("general.architecture")).isEqualTo("llama");
            assertThat(f.getInt("u8")).isEqualTo(200);
            assertThat(f.getInt("i8")).isEqualTo(-5);
            assertThat(f.getInt("u16")).isEqualTo(65000);
            assertThat(f.getInt("i16")).isEqualTo(-30000);
            assertThat(f.value("u32").value()).isEqualTo(4_000_000_000L);
            assertThat(f.getInt("i32")).isEqualTo(-7);
            assertThat(f.getFloat("f32")).isEqualTo(1.5f);
            assertThat(f.getBool("bool", false)).isTrue();
            assertThat(f.value("u64").value()).isEqualTo(1L << 40);
            assertThat(f.value("i64").value()).isEqualTo(-(1L << 40));
            assertThat(f.getFloat("f64")).isEqualTo(2.25f);
            assertThat(f.getString("unicode")).isEqualTo("深度求索 🐋");
            assertThat(f.getStringArray("strings")).containsExactly("a", "", "ü");
            assertThat(f.getIntArray("ints")).containsExactly(1, -2, 3);
            assertThat(f.getFloatArray("floats")).containsExactly(0.5f, -1f);
            assertThat((boolean[]) f.value("bools").value()).containsExactly(true, false);
            assertThat(f.getIntArray("u8s")).containsExactly(255, 0);
            assertThat((long[]) f.value("u64s").value()).containsExactly(1L << 50);
            assertThat((double[]) f.value("f64s").value()).containsExactly(1e300);

            assertThat(f.tensors()).extracting(TensorInfo::name).containsExactly("m", "q", "v");
            for (TensorInfo t : f.tensors()) {
                assertThat(t.fileOffset() % 32).isZero();
            }
            Matrix m = f.matrix("m", 64, 3);
            float[] row = new float[64];
            m.dequantizeRow(2, row, 0);
            assertThat(row[5]).isEqualTo((128 + 5) / 64f);
            Matrix q = f.matrix("q", 64, 3);
            q.dequantizeRow(2, row, 0);
            assertThat(row[5]).isCloseTo((128 + 5) / 64f, org.assertj.core.data.Offset.offset(0.02f));
            assertThat(f.vector("v", 5)).containsExactly(1, 2, 3, 4, 5);
        }
    }

    @Test
    void version2FilesAndOtherAlignmentsAreRead() throws IOException {
        Path p = dir.resolve("aligned.gguf");
        new GgufWriter().alignment(64).putString("general.architecture", "llama")
                .addTensor("a", GgmlType.F32, new long[] {3}, new float[] {1, 2, 3})
                .addTensor("b", GgmlType.F32, new long[] {2}, new float[] {4, 5})
                .write(p);
        byte[] whole = Files.readAllBytes(p);
        ByteBuffer.wrap(whole).order(ByteOrder.LITTLE_ENDIAN).putInt(4, 2);
        Files.write(p, whole);
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.version()).isEqualTo(2);
            assertThat(f.alignment()).isEqualTo(64);
            assertThat(f.tensor("b").fileOffset() % 64).isZero();
            assertThat(f.vector("b", 2)).containsExactly(4, 5);
        }
    }

    @Test
    void aMissingFileIsNamed() {
        assertThatThrownBy(() -> GgufFile.open(dir.resolve("nope.gguf")))
                .isInstanceOf(GgufException.class).hasMessageEndingWith("nope.gguf: no such file");
    }

    @Test
    void aFileThatIsNotGgufSaysWhatItStartsWith() throws IOException {
        Path p = dir.resolve("elf.bin");
        Files.write(p, new byte[] {0x7f, 'E', 'L', 'F', 1, 2, 3});
        assertThatThrownBy(() -> GgufFile.open(p)).hasMessageContaining("not a GGUF file")
                .hasMessageContaining("7f 45 4c 46");
        Path empty = dir.resolve("empty.gguf");
        Files.write(empty, new byte[0]);
        assertThatThrownBy(() -> GgufFile.open(empty)).hasMessageContaining("not a GGUF file");
    }

    @Test
    void truncationInTheHeaderNamesTheOffsetAndTheField() throws IOException {
        byte[] whole = Files.readAllBytes(writeSample());
        Path p = dir.resolve("cut.gguf");
        Files.write(p, Arrays.copyOf(whole, 60));
        assertThatThrownBy(() -> GgufFile.open(p)).isInstanceOf(GgufException.class)
                .hasMessageContaining("cut.gguf: truncated at byte")
                .hasMessageContaining("general.architecture");
    }

    @Test
    void truncationInTheDataNamesTheTensor() throws IOException {
        byte[] whole = Files.readAllBytes(writeSample());
        Path p = dir.resolve("cut.gguf");
        Files.write(p, Arrays.copyOf(whole, whole.length - 40));
        assertThatThrownBy(() -> GgufFile.open(p))
                .hasMessageContaining("tensor v needs 20 bytes")
                .hasMessageContaining("the file is truncated");
    }

    @Test
    void version1AndUnknownVersionsAreRefused() throws IOException {
        byte[] whole = Files.readAllBytes(writeSample());
        Path p = dir.resolve("v.gguf");
        for (int version : new int[] {1, 4}) {
            ByteBuffer.wrap(whole).order(ByteOrder.LITTLE_ENDIAN).putInt(4, version);
            Files.write(p, whole);
            assertThatThrownBy(() -> GgufFile.open(p)).hasMessageContaining("version " + version);
        }
    }

    @Test
    void anUnknownTensorTypeIsNamed() throws IOException {
        Path p = writeSample();
        byte[] whole = Files.readAllBytes(p);
        // The type id of tensor "v" sits just before its 8-byte offset, after name and dims.
        int at = indexOf(whole, new byte[] {1, 0, 0, 0, 0, 0, 0, 0, 'v'}) + 9 + 4 + 8;
        ByteBuffer.wrap(whole).order(ByteOrder.LITTLE_ENDIAN).putInt(at, 77);
        Files.write(p, whole);
        assertThatThrownBy(() -> GgufFile.open(p)).hasMessageContaining("tensor v has unknown type id 77");
    }

    @Test
    void tensorOffsetsAndShapesThatOverflowOrOverlapAreRefused() throws IOException {
        byte[] whole = Files.readAllBytes(writeSample());
        // Tensor "v": name, then 1 dimension (u32), its size (i64), the type id (u32), the offset (i64).
        int dims = indexOf(whole, new byte[] {1, 0, 0, 0, 0, 0, 0, 0, 'v'}) + 9;
        int size = dims + 4;
        int offset = size + 8 + 4;
        Path p = dir.resolve("bad.gguf");

        byte[] far = whole.clone();
        ByteBuffer.wrap(far).order(ByteOrder.LITTLE_ENDIAN).putLong(offset, Long.MAX_VALUE - 31);
        Files.write(p, far);
        assertThatThrownBy(() -> GgufFile.open(p)).hasMessageContaining("tensor v needs 20 bytes at data offset "
                + (Long.MAX_VALUE - 31)).hasMessageContaining("truncated or corrupt");

        byte[] huge = whole.clone();
        ByteBuffer.wrap(huge).order(ByteOrder.LITTLE_ENDIAN).putLong(size, 1L << 62);
        Files.write(p, huge);
        assertThatThrownBy(() -> GgufFile.open(p))
                .hasMessage(p + ": tensor v has shape [" + (1L << 62) + "], too large to address: the file is corrupt");

        byte[] shared = whole.clone();
        ByteBuffer.wrap(shared).order(ByteOrder.LITTLE_ENDIAN).putLong(offset, 0);
        Files.write(p, shared);
        assertThatThrownBy(() -> GgufFile.open(p)).hasMessage(p + ": tensors m and v overlap in the file: it is corrupt");
    }

    @Test
    void unsupportedTypesParseButRefuseToCompute() throws IOException {
        Path p = dir.resolve("iq.gguf");
        new GgufWriter().addTensor("w", GgmlType.IQ2_XXS, new long[] {256, 2}, out -> out.fill((byte) 0)).write(p);
        try (GgufFile f = GgufFile.open(p)) {
            assertThat(f.tensor("w").type()).isEqualTo(GgmlType.IQ2_XXS);
            assertThatThrownBy(() -> f.matrix("w", 256, 2))
                    .hasMessageContaining("tensor w has type IQ2_XXS, which Fathom does not support");
        }
    }

    @Test
    void wrongMetadataTypesAndShapesAreClearErrors() throws IOException {
        try (GgufFile f = GgufFile.open(writeSample())) {
            assertThatThrownBy(() -> f.getInt("f32")).hasMessageContaining("metadata f32 should be an integer, but is float32");
            assertThatThrownBy(() -> f.getString("nothing")).hasMessageContaining("required metadata nothing is missing");
            assertThatThrownBy(() -> f.matrix("m", 3, 64)).hasMessageContaining("tensor m has shape [64, 3], expected [3, 64]");
            assertThatThrownBy(() -> f.matrix("x", 3, 64)).hasMessageContaining("required tensor x is missing");
        }
    }

    @Test
    void tensorDataIsUsedInPlace() throws IOException {
        try (GgufFile f = GgufFile.open(writeSample())) {
            var m = f.data(f.tensor("m"));
            assertThat(m.isMapped()).isTrue();
            assertThat(m.get(ValueLayout.JAVA_FLOAT_UNALIGNED, 4)).isEqualTo(1 / 64f);
        }
    }

    private static int indexOf(byte[] haystack, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= haystack.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (haystack[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        throw new AssertionError("not found");
    }
}
