package dev.fathom.model.safetensors;

import dev.fathom.model.ModelFileException;
import dev.fathom.model.safetensors.SafetensorsFile.Tensor;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The weights of a Hugging Face checkpoint directory: one {@code model.safetensors}, or the
 * shards that {@code model.safetensors.index.json} maps every tensor to. All shards are mapped
 * at once and checked against the index: a missing shard, or a tensor the index places in a
 * shard that does not hold it, is an error that names both.
 */
public final class Checkpoint implements AutoCloseable {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Path dir;
    private final List<SafetensorsFile> shards;
    private final Map<String, SafetensorsFile> byTensor;

    private Checkpoint(Path dir, List<SafetensorsFile> shards, Map<String, SafetensorsFile> byTensor) {
        this.dir = dir;
        this.shards = shards;
        this.byTensor = byTensor;
    }

    /** Opens the checkpoint in {@code dir}; the caller closes it to unmap the shards. */
    public static Checkpoint open(Path dir) {
        Path index = dir.resolve("model.safetensors.index.json");
        Path single = dir.resolve("model.safetensors");
        if (!Files.isRegularFile(index) && !Files.isRegularFile(single)) {
            throw new ModelFileException(dir + ": no model.safetensors.index.json or model.safetensors");
        }
        List<SafetensorsFile> shards = new ArrayList<>();
        try {
            Map<String, SafetensorsFile> byTensor = new LinkedHashMap<>();
            if (!Files.isRegularFile(index)) {
                SafetensorsFile file = SafetensorsFile.open(single);
                shards.add(file);
                file.tensors().forEach(t -> byTensor.put(t.name(), file));
                return new Checkpoint(dir, shards, Collections.unmodifiableMap(byTensor));
            }
            JsonNode map = readJson(index).get("weight_map");
            if (map == null || !map.isObject()) {
                throw new ModelFileException(index + ": no weight_map object");
            }
            Map<String, SafetensorsFile> byShard = new LinkedHashMap<>();
            for (Map.Entry<String, JsonNode> e : map.properties()) {
                String shardName = e.getValue().asString();
                SafetensorsFile shard = byShard.get(shardName);
                if (shard == null) {
                    Path shardPath = dir.resolve(shardName).normalize();
                    if (!shardPath.startsWith(dir.normalize()) || !Files.isRegularFile(shardPath)) {
                        throw new ModelFileException(dir + ": shard " + shardName + ", which the index names for "
                                + e.getKey() + ", is missing");
                    }
                    shard = SafetensorsFile.open(shardPath);
                    shards.add(shard);
                    byShard.put(shardName, shard);
                }
                if (shard.tensor(e.getKey()) == null) {
                    throw new ModelFileException(shard.path() + ": has no tensor " + e.getKey()
                            + ", which model.safetensors.index.json places there");
                }
                byTensor.put(e.getKey(), shard);
            }
            return new Checkpoint(dir, shards, Collections.unmodifiableMap(byTensor));
        } catch (RuntimeException e) {
            shards.forEach(SafetensorsFile::close);
            throw e;
        }
    }

    /** {@code file} parsed as a JSON object, or an error naming it. */
    static JsonNode readJson(Path file) {
        try {
            JsonNode node = JSON.readTree(Files.readString(file));
            if (node == null || !node.isObject()) {
                throw new ModelFileException(file + ": not a JSON object");
            }
            return node;
        } catch (JacksonException e) {
            throw new ModelFileException(file + ": not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ModelFileException(file + ": cannot read: " + e.getMessage());
        }
    }

    public Path dir() {
        return dir;
    }

    /** How many safetensors files hold the tensors. */
    public int shards() {
        return shards.size();
    }

    /** The names of all tensors, in the index's order. */
    public java.util.Set<String> names() {
        return byTensor.keySet();
    }

    /** The tensor named {@code name}, or null. */
    public Tensor tensor(String name) {
        SafetensorsFile shard = byTensor.get(name);
        return shard == null ? null : shard.tensor(name);
    }

    /** The bytes of tensor {@code name}, in place in its shard. */
    public MemorySegment data(String name) {
        SafetensorsFile shard = byTensor.get(name);
        if (shard == null) {
            throw new ModelFileException(dir + ": required tensor " + name + " is missing");
        }
        return shard.data(shard.tensor(name));
    }

    @Override
    public void close() {
        shards.forEach(SafetensorsFile::close);
    }
}
