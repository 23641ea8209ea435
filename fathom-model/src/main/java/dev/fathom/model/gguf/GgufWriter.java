package dev.fathom.model.gguf;

import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.kernel.WeightKernel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes GGUF version 3 files: metadata in insertion order, then tensor infos, then the tensor
 * data, each tensor aligned. Tensor contents are produced on demand, straight into the mapped
 * output file, so a multi-gigabyte model never needs to sit in memory.
 */
public final class GgufWriter {
    /** Fills the bytes of one tensor; {@code out} is exactly the tensor's size, and may be written from several threads. */
    @FunctionalInterface
    public interface TensorData {
        void write(MemorySegment out);
    }

    private record Pending(String name, long[] shape, GgmlType type, long bytes, TensorData data) {
    }

    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();
    private int alignment = GgufFile.DEFAULT_ALIGNMENT;

    /** Aligns tensor data to {@code bytes} (a power of two), recorded as general.alignment. */
    public GgufWriter alignment(int bytes) {
        if (bytes <= 0 || Integer.bitCount(bytes) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two, got " + bytes);
        }
        alignment = bytes;
        return putUint32("general.alignment", bytes);
    }

    public GgufWriter put(String key, GgufValue value) {
        metadata.put(key, value);
        return this;
    }

    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.of(GgufType.STRING, value));
    }

    public GgufWriter putUint32(String key, long value) {
        return put(key, GgufValue.of(GgufType.UINT32, value));
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValue.of(GgufType.INT32, value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.of(GgufType.FLOAT32, value));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.of(GgufType.BOOL, value));
    }

    public GgufWriter putStrings(String key, String[] values) {
        return put(key, GgufValue.array(GgufType.STRING, values));
    }

    public GgufWriter putInt32s(String key, int[] values) {
        return put(key, GgufValue.array(GgufType.INT32, values));
    }

    public GgufWriter putFloat32s(String key, float[] values) {
        return put(key, GgufValue.array(GgufType.FLOAT32, values));
    }

    /** Adds a tensor whose bytes {@code data} will write (ggml shape: ne0 first). */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorData data) {
        long elements = 1;
        for (long d : shape) {
            elements *= d;
        }
        if (shape[0] % type.blockSize != 0) {
            throw new IllegalArgumentException(name + ": rows of " + shape[0] + " are not whole " + type + " blocks");
        }
        tensors.add(new Pending(name, shape.clone(), type, type.bytesFor(elements), data));
        return this;
    }

    /** Adds a tensor from float values (row after row), encoded in {@code type}. */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, float[] values) {
        int row = (int) shape[0];
        WeightKernel kernel = WeightKernel.of(type);
        return addTensor(name, type, shape, out -> {
            long rowBytes = type.bytesFor(row);
            for (int r = 0; r < values.length / row; r++) {
                kernel.quantize(values, r * row, out, r * rowBytes, row);
            }
        });
    }

    /** Writes the file: to a temporary sibling first, then moved into place, so no reader sees half a file. */
    public void write(Path path) throws IOException {
        byte[] header = header();
        long dataStart = align(header.length);
        long total = dataStart;
        long[] offsets = new long[tensors.size()];
        for (int i = 0; i < tensors.size(); i++) {
            offsets[i] = total - dataStart;
            total = align(total + tensors.get(i).bytes);
        }
        Path dir = path.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        // The file is written through a mapping, and a mapped page that the disk has no room for
        // faults when it is touched (an InternalError, or a crash inside a vectorised kernel) rather
        // than failing a write; so the room is checked first.
        long usable = Files.getFileStore(dir).getUsableSpace();
        if (usable < total) {
            throw new IOException(String.format("not enough disk space for %s: it takes %,d bytes and %s has %,d free",
                    path, total, dir, usable));
        }
        Path tmp = dir.resolve(path.getFileName() + "." + ProcessHandle.current().pid() + ".partial");
        try {
            try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING);
                    Arena arena = Arena.ofShared()) {
                MemorySegment out = channel.map(FileChannel.MapMode.READ_WRITE, 0, total, arena);
                byte[] withOffsets = header(offsets);
                MemorySegment.copy(MemorySegment.ofArray(withOffsets), 0, out, 0, withOffsets.length);
                for (int i = 0; i < tensors.size(); i++) {
                    Pending t = tensors.get(i);
                    t.data.write(out.asSlice(dataStart + offsets[i], t.bytes));
                }
                out.force();
            }
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private long align(long n) {
        return (n + alignment - 1) / alignment * alignment;
    }

    private byte[] header() {
        return header(new long[tensors.size()]);
    }

    private byte[] header(long[] offsets) {
        Out out = new Out();
        out.i32(GgufFile.MAGIC);
        out.i32(3);
        out.i64(tensors.size());
        out.i64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            out.string(e.getKey());
            GgufValue v = e.getValue();
            out.i32(v.type().id);
            if (v.isArray()) {
                out.i32(v.elementType().id);
                int n = v.length();
                out.i64(n);
                for (int i = 0; i < n; i++) {
                    out.scalar(v.elementType(), java.lang.reflect.Array.get(v.value(), i));
                }
            } else {
                out.scalar(v.type(), v.value());
            }
        }
        for (int i = 0; i < tensors.size(); i++) {
            Pending t = tensors.get(i);
            out.string(t.name);
            out.i32(t.shape.length);
            for (long d : t.shape) {
                out.i64(d);
            }
            out.i32(t.type.id);
            out.i64(offsets[i]);
        }
        return out.bytes();
    }

    /** A little-endian byte sink for the header. */
    private static final class Out {
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        void i8(int v) {
            bytes.write(v);
        }

        void i16(int v) {
            scratch.clear();
            bytes.write(scratch.putShort((short) v).array(), 0, 2);
        }

        void i32(int v) {
            scratch.clear();
            bytes.write(scratch.putInt(v).array(), 0, 4);
        }

        void i64(long v) {
            scratch.clear();
            bytes.write(scratch.putLong(v).array(), 0, 8);
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            bytes.write(b, 0, b.length);
        }

        void scalar(GgufType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> i8(((Number) v).intValue());
                case BOOL -> i8((Boolean) v ? 1 : 0);
                case UINT16, INT16 -> i16(((Number) v).intValue());
                case UINT32, INT32 -> i32(((Number) v).intValue());
                case UINT64, INT64 -> i64(((Number) v).longValue());
                case FLOAT32 -> i32(Float.floatToRawIntBits(((Number) v).floatValue()));
                case FLOAT64 -> i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
                case STRING -> string((String) v);
                case ARRAY -> throw new IllegalArgumentException("nested arrays are not allowed in GGUF");
            }
        }

        byte[] bytes() {
            return bytes.toByteArray();
        }
    }
}
