package dev.fathom.model.safetensors;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.fathom.model.Model;
import dev.fathom.model.ModelFileException;
import dev.fathom.model.testing.TestCheckpoints;
import dev.fathom.model.testing.TestCheckpoints.Scales;
import dev.fathom.model.testing.TestModels.Spec;
import dev.fathom.tensor.GgmlType;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/** A checkpoint directory that cannot be run says precisely why, naming the file and the tensor. */
class CheckpointErrorsTest {
    private static final JsonMapper JSON = JsonMapper.builder().build();
    private static final String SHARD_1 = "model-00001-of-00002.safetensors";
    private static final String SHARD_2 = "model-00002-of-00002.safetensors";
    private static final String INDEX = "model.safetensors.index.json";

    @TempDir
    Path dir;

    private final Path good = TestCheckpoints.get(Spec.deepSeekV3WithMtp(GgmlType.F32), Scales.F32);

    /** The good checkpoint's files, linked into {@code dir}, except {@code except}. */
    private Path linked(String... except) throws IOException {
        Path copy = dir.resolve("checkpoint");
        Files.createDirectories(copy);
        try (Stream<Path> files = Files.list(good)) {
            for (Path f : files.toList()) {
                if (!java.util.List.of(except).contains(f.getFileName().toString())) {
                    Files.createSymbolicLink(copy.resolve(f.getFileName()), f);
                }
            }
        }
        return copy;
    }

    private ObjectNode json(String file) throws IOException {
        return (ObjectNode) JSON.readTree(good.resolve(file).toFile());
    }

    @Test
    void aMissingShardIsNamed() throws IOException {
        Path copy = linked(SHARD_2);
        assertThatThrownBy(() -> Model.open(copy, 1)).isInstanceOf(ModelFileException.class)
                .hasMessageMatching(java.util.regex.Pattern.quote(copy + ": shard " + SHARD_2 + ", which the index names for ")
                        + "\\S+" + java.util.regex.Pattern.quote(", is missing"));
    }

    @Test
    void aShardWhoseHeaderDisagreesWithTheIndexIsNamed() throws IOException {
        Path copy = linked(INDEX);
        ObjectNode index = json(INDEX);
        ObjectNode map = (ObjectNode) index.get("weight_map");
        map.put("model.norm.weight", map.get("model.norm.weight").asString().equals(SHARD_1) ? SHARD_2 : SHARD_1);
        Files.writeString(copy.resolve(INDEX), JSON.writeValueAsString(index));
        assertThatThrownBy(() -> Model.open(copy, 1)).isInstanceOf(ModelFileException.class)
                .hasMessageEndingWith(": has no tensor model.norm.weight, which model.safetensors.index.json places there");
    }

    @Test
    void anUnsupportedDtypeIsNamedWithTheTensor() throws IOException {
        Path copy = linked(SHARD_1);
        // The same bytes, declared as the other FP8 format, which DeepSeek's checkpoints do not use.
        Path shard = good.resolve(SHARD_1);
        String retyped;
        try (FileChannel in = FileChannel.open(shard, StandardOpenOption.READ)) {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            in.read(length, 0);
            long headerLength = length.getLong(0);
            ByteBuffer header = ByteBuffer.allocate((int) headerLength);
            in.read(header, 8);
            ObjectNode tensors = (ObjectNode) JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            retyped = tensors.propertyNames().stream().filter(n -> n.endsWith("q_a_proj.weight")).findFirst().orElseThrow();
            ((ObjectNode) tensors.get(retyped)).put("dtype", "F8_E5M2");
            byte[] newHeader = JSON.writeValueAsString(tensors).getBytes(StandardCharsets.UTF_8);
            try (OutputStream out = Files.newOutputStream(copy.resolve(SHARD_1));
                    FileChannel sink = FileChannel.open(copy.resolve(SHARD_1), StandardOpenOption.APPEND)) {
                out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(newHeader.length).array());
                out.write(newHeader);
                out.flush();
                in.transferTo(8 + headerLength, in.size() - 8 - headerLength, sink);
            }
        }
        assertThatThrownBy(() -> Model.open(copy, 1)).isInstanceOf(ModelFileException.class)
                .hasMessage(copy + ": tensor " + retyped + " has dtype F8_E5M2, which Fathom does not support"
                        + " (supported: F32, F16, BF16, F8_E4M3)");
    }

    @Test
    void anUnknownModelTypeIsNamed() throws IOException {
        Path copy = linked("config.json");
        ObjectNode config = json("config.json");
        config.put("model_type", "mixtral");
        Files.writeString(copy.resolve("config.json"), JSON.writeValueAsString(config));
        assertThatThrownBy(() -> Model.open(copy, 1)).isInstanceOf(ModelFileException.class)
                .hasMessage(copy.resolve("config.json") + ": model_type 'mixtral' is not supported (supported: deepseek_v2,"
                        + " deepseek_v3, qwen2, llama)");
    }

    @Test
    void anFp8WeightWithoutItsScalesIsNamed() throws IOException {
        Path copy = linked(INDEX);
        ObjectNode index = json(INDEX);
        ((ObjectNode) index.get("weight_map")).remove("model.layers.0.self_attn.o_proj.weight_scale_inv");
        Files.writeString(copy.resolve(INDEX), JSON.writeValueAsString(index));
        assertThatThrownBy(() -> Model.open(copy, 1)).isInstanceOf(ModelFileException.class)
                .hasMessage(copy + ": FP8 tensor model.layers.0.self_attn.o_proj.weight has no"
                        + " model.layers.0.self_attn.o_proj.weight_scale_inv");
    }

    @Test
    void aDirectoryWithoutAConfigIsNamed() throws IOException {
        Path copy = linked("config.json");
        assertThatThrownBy(() -> Model.open(copy, 1)).isInstanceOf(ModelFileException.class)
                .hasMessage(copy + ": a directory, but not a Hugging Face checkpoint: it has no config.json");
    }
}
