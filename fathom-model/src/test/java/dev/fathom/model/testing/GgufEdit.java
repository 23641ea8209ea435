package dev.fathom.model.testing;

import dev.fathom.model.gguf.GgufFile;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.gguf.GgufWriter;
import dev.fathom.model.gguf.TensorInfo;
import dev.fathom.tensor.GgmlType;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/** Copies a GGUF file with changes, to make the broken files that error tests need. */
public final class GgufEdit {
    private final Map<String, GgufValue> metadata = new HashMap<>();
    private final Set<String> dropped = new HashSet<>();
    private final Set<String> droppedKeys = new HashSet<>();
    private final Map<String, GgmlType> retyped = new HashMap<>();

    public GgufEdit set(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    public GgufEdit dropKey(String key) {
        droppedKeys.add(key);
        return this;
    }

    public GgufEdit dropTensor(String name) {
        dropped.add(name);
        return this;
    }

    /** Gives a tensor another type (its data zeroed): a file Fathom may not be able to compute with. */
    public GgufEdit retype(String name, GgmlType type) {
        retyped.put(name, type);
        return this;
    }

    public Path apply(Path source, Path target) {
        try (GgufFile in = GgufFile.open(source)) {
            GgufWriter out = new GgufWriter();
            in.metadata().forEach((k, v) -> {
                if (!droppedKeys.contains(k)) {
                    out.put(k, metadata.getOrDefault(k, v));
                }
            });
            metadata.forEach((k, v) -> {
                if (!in.has(k)) {
                    out.put(k, v);
                }
            });
            for (TensorInfo t : in.tensors()) {
                if (dropped.contains(t.name())) {
                    continue;
                }
                GgmlType type = retyped.get(t.name());
                if (type == null) {
                    out.addTensor(t.name(), t.type(), t.shape(), o -> o.copyFrom(in.data(t)));
                } else {
                    out.addTensor(t.name(), type, t.shape(), o -> o.fill((byte) 0));
                }
            }
            out.write(target);
            return target;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
