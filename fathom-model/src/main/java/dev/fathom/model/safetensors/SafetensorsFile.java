package dev.fathom.model.safetensors;

import dev.fathom.model.ModelFileException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * A safetensors file (the format of Hugging Face checkpoints), memory-mapped: an 8-byte
 * little-endian header length, a JSON header naming each tensor's dtype, shape and byte range,
 * then the data, used in place. The header is checked up front: every range inside the data,
 * of the size its dtype and shape imply, none overlapping another.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The element types of the format, with their sizes in bytes. */
    public enum Dtype {
        BOOL(1), U8(1), I8(1), F8_E4M3(1), F8_E5M2(1), F8_E8M0(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4),
        I64(8), U64(8), F64(8);

        public final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    /** A tensor: its shape (outermost first, as PyTorch's), dtype, and bytes from the start of the file. */
    public record Tensor(String name, Dtype dtype, long[] shape, long offset, long bytes) {
        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }
    }

    /** Headers above this size are refused: a corrupt length would otherwise ask for gigabytes. */
    private static final long MAX_HEADER = 100L << 20;
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, MemorySegment file, Map<String, Tensor> tensors,
            Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and checks {@code path}; the caller closes the result to unmap it. */
    public static SafetensorsFile open(Path path) {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            SafetensorsFile result = parse(path, arena, file);
            return result;
        } catch (NoSuchFileException e) {
            arena.close();
            throw new ModelFileException(path + ": no such file");
        } catch (IOException e) {
            arena.close();
            throw new ModelFileException(path + ": cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static SafetensorsFile parse(Path path, Arena arena, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) {
            throw new ModelFileException(path + ": " + size + " bytes is too short for a safetensors file");
        }
        long headerLength = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength < 2 || headerLength > MAX_HEADER || 8 + headerLength > size) {
            throw new ModelFileException(path + ": header length " + Long.toUnsignedString(headerLength) + " at offset 0 does not fit a file of "
                    + size + " bytes: not a safetensors file, or a truncated one");
        }
        byte[] header = file.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode root;
        try {
            root = JSON.readTree(new String(header, StandardCharsets.UTF_8));
        } catch (JacksonException e) {
            throw new ModelFileException(path + ": the header (bytes 8 to " + (8 + headerLength) + ") is not valid JSON: "
                    + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new ModelFileException(path + ": the header is not a JSON object");
        }
        long dataStart = 8 + headerLength;
        long dataSize = size - dataStart;
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            String name = e.getKey();
            JsonNode entry = e.getValue();
            if (name.equals("__metadata__")) {
                entry.properties().forEach(m -> metadata.put(m.getKey(), m.getValue().asString()));
                continue;
            }
            tensors.put(name, tensor(path, name, entry, dataStart, dataSize));
        }
        List<Tensor> byOffset = new ArrayList<>(tensors.values());
        byOffset.sort(Comparator.comparingLong(Tensor::offset));
        for (int i = 1; i < byOffset.size(); i++) {
            Tensor a = byOffset.get(i - 1);
            Tensor b = byOffset.get(i);
            if (b.offset() < a.offset() + a.bytes()) {
                throw new ModelFileException(path + ": tensors " + a.name() + " and " + b.name() + " overlap");
            }
        }
        return new SafetensorsFile(path, arena, file, Collections.unmodifiableMap(tensors),
                Collections.unmodifiableMap(metadata));
    }

    private static Tensor tensor(Path path, String name, JsonNode entry, long dataStart, long dataSize) {
        String where = path + ": tensor " + name;
        JsonNode dtypeNode = entry.get("dtype");
        JsonNode shapeNode = entry.get("shape");
        JsonNode offsets = entry.get("data_offsets");
        if (dtypeNode == null || !dtypeNode.isString() || shapeNode == null || !shapeNode.isArray() || offsets == null
                || !offsets.isArray() || offsets.size() != 2) {
            throw new ModelFileException(where + " needs a dtype string, a shape array and two data_offsets");
        }
        Dtype dtype;
        try {
            dtype = Dtype.valueOf(dtypeNode.asString());
        } catch (IllegalArgumentException e) {
            throw new ModelFileException(where + " has the unknown dtype " + dtypeNode.asString());
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToLong() || d.asLong() < 0) {
                throw new ModelFileException(where + " has a shape that is not non-negative integers: " + shapeNode);
            }
            shape[i] = d.asLong();
            elements = Math.multiplyHigh(elements, shape[i]) != 0 ? -1 : elements * shape[i];
            if (elements < 0) {
                throw new ModelFileException(where + " has a shape too large to address: " + shapeNode);
            }
        }
        long begin = offsets.get(0).asLong(-1);
        long end = offsets.get(1).asLong(-1);
        if (begin < 0 || end < begin || end > dataSize) {
            throw new ModelFileException(where + " has data_offsets [" + offsets.get(0) + ", " + offsets.get(1)
                    + "] outside the " + dataSize + " bytes of data: a truncated or corrupt file");
        }
        if (end - begin != elements * dtype.bytes) {
            throw new ModelFileException(where + " has " + (end - begin) + " bytes of data, but its shape " + shapeNode
                    + " of " + dtype + " needs " + elements * dtype.bytes);
        }
        return new Tensor(name, dtype, shape, dataStart + begin, end - begin);
    }

    public Path path() {
        return path;
    }

    public Collection<Tensor> tensors() {
        return tensors.values();
    }

    /** The tensor named {@code name}, or null. */
    public Tensor tensor(String name) {
        return tensors.get(name);
    }

    /** The header's {@code __metadata__} strings. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor's bytes, in place. */
    public MemorySegment data(Tensor tensor) {
        return file.asSlice(tensor.offset(), tensor.bytes());
    }

    @Override
    public void close() {
        arena.close();
    }
}
