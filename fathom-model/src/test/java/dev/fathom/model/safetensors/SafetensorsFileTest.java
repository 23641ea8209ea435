package dev.fathom.model.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.ModelFileException;
import dev.fathom.model.safetensors.SafetensorsFile.Dtype;
import dev.fathom.model.safetensors.SafetensorsFile.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Safetensors files and checkpoint directories: read in place, and every broken one named precisely. */
class SafetensorsFileTest {
    @TempDir
    Path dir;

    /** A file with the given JSON header (spaces padding it to a multiple of 8, as the format's writers do) and data. */
    static Path write(Path file, String header, byte[] data) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded).array());
        out.write(json);
        for (int i = json.length; i < padded; i++) {
            out.write(' ');
        }
        out.write(data);
        Files.write(file, out.toByteArray());
        return file;
    }

    private static byte[] floats(float... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        return b.array();
    }

    private static byte[] concat(byte[]... parts) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.write(p);
        }
        return out.toByteArray();
    }

    private Path twoTensors(String name) throws IOException {
        return write(dir.resolve(name), """
                {"__metadata__":{"format":"pt"},
                 "w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},
                 "s":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[24,28]}}""",
                concat(floats(1, 2, 3, 4, 5, 6), new byte[] {0x38, 0x40, (byte) 0xb8, 0x7e}));
    }

    @Test
    void tensorsAreReadInPlaceWithTheirShapesAndTypes() throws IOException {
        try (SafetensorsFile file = SafetensorsFile.open(twoTensors("ok.safetensors"))) {
            Tensor w = file.tensor("w");
            assertThat(w.dtype()).isEqualTo(Dtype.F32);
            assertThat(w.shape()).containsExactly(2, 3);
            assertThat(file.data(w).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN)))
                    .containsExactly(1, 2, 3, 4, 5, 6);
            assertThat(file.data(file.tensor("s")).toArray(ValueLayout.JAVA_BYTE)).containsExactly(0x38, 0x40, (byte) 0xb8, 0x7e);
            assertThat(file.metadata()).containsEntry("format", "pt");
            assertThat(file.tensors()).hasSize(2);
        }
    }

    @Test
    void aTruncatedFileIsNamedWithTheTensorWhoseDataIsCut() throws IOException {
        Path file = twoTensors("cut.safetensors");
        byte[] all = Files.readAllBytes(file);
        Files.write(file, Arrays.copyOf(all, all.length - 3));
        assertThatThrownBy(() -> SafetensorsFile.open(file)).isInstanceOf(ModelFileException.class)
                .hasMessage(file + ": tensor s has data_offsets [24, 28] outside the 25 bytes of data: a truncated or corrupt file");
    }

    @Test
    void aFileThatIsNotSafetensorsIsNamed() throws IOException {
        Path file = Files.write(dir.resolve("model.gguf"), "GGUF\3\0\0\0 and then some more bytes".getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> SafetensorsFile.open(file))
                .hasMessageStartingWith(file + ": header length").hasMessageEndingWith("not a safetensors file, or a truncated one");
    }

    @Test
    void headersThatDisagreeWithThemselvesAreNamed() throws IOException {
        Path dtype = write(dir.resolve("a"), "{\"x\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", new byte[1]);
        assertThatThrownBy(() -> SafetensorsFile.open(dtype)).hasMessage(dtype + ": tensor x has the unknown dtype F4");
        Path size = write(dir.resolve("b"), "{\"x\":{\"dtype\":\"BF16\",\"shape\":[2,3],\"data_offsets\":[0,10]}}", new byte[10]);
        assertThatThrownBy(() -> SafetensorsFile.open(size))
                .hasMessage(size + ": tensor x has 10 bytes of data, but its shape [2,3] of BF16 needs 12");
        Path overlap = write(dir.resolve("c"), """
                {"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""",
                new byte[12]);
        assertThatThrownBy(() -> SafetensorsFile.open(overlap)).hasMessage(overlap + ": tensors x and y overlap");
        Path json = write(dir.resolve("d"), "{\"x\": [", new byte[0]);
        assertThatThrownBy(() -> SafetensorsFile.open(json)).hasMessageStartingWith(json + ": the header (bytes 8 to 16) is not valid JSON");
    }

    @Test
    void aShardedCheckpointFindsEachTensorInItsShard() throws IOException {
        write(dir.resolve("model-00001-of-00002.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(7));
        write(dir.resolve("model-00002-of-00002.safetensors"), "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(9));
        Files.writeString(dir.resolve("model.safetensors.index.json"), """
                {"metadata":{"total_size":8},"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00002-of-00002.safetensors"}}""");
        try (Checkpoint checkpoint = Checkpoint.open(dir)) {
            assertThat(checkpoint.names()).containsExactly("a", "b");
            assertThat(checkpoint.data("b").get(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0)).isEqualTo(9f);
            assertThatThrownBy(() -> checkpoint.data("c")).hasMessage(dir + ": required tensor c is missing");
        }
    }

    @Test
    void aMissingShardOrAShardWithoutItsTensorsIsNamed() throws IOException {
        write(dir.resolve("one.safetensors"), "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", floats(7));
        Path index = dir.resolve("model.safetensors.index.json");
        Files.writeString(index, "{\"weight_map\":{\"a\":\"one.safetensors\",\"b\":\"two.safetensors\"}}");
        assertThatThrownBy(() -> Checkpoint.open(dir)).isInstanceOf(ModelFileException.class)
                .hasMessage(dir + ": shard two.safetensors, which the index names for b, is missing");
        Files.writeString(index, "{\"weight_map\":{\"a\":\"one.safetensors\",\"b\":\"one.safetensors\"}}");
        assertThatThrownBy(() -> Checkpoint.open(dir))
                .hasMessage(dir.resolve("one.safetensors") + ": has no tensor b, which model.safetensors.index.json places there");
        Files.delete(index);
        Files.delete(dir.resolve("one.safetensors"));
        assertThatThrownBy(() -> Checkpoint.open(dir)).hasMessage(dir + ": no model.safetensors.index.json or model.safetensors");
    }
}
