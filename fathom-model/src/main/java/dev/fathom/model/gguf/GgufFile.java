package dev.fathom.model.gguf;

import dev.fathom.model.ModelFile;
import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Matrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.Collections;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3), memory-mapped: the header and metadata are parsed and checked
 * up front; tensor data stays in the mapping and is handed out as slices, never copied.
 *
 * <p>Every problem is reported as a {@link GgufException} naming the file and, where it
 * applies, the byte offset and the entry being read.
 */
public final class GgufFile implements ModelFile {
    public static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian int
    public static final int DEFAULT_ALIGNMENT = 32;

    private final Path path;
    private final Arena arena;
    private final MemorySegment file;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final Map<String, TensorInfo> tensors;
    private final long alignment;
    private final long dataStart;

    private GgufFile(Path path, Arena arena, MemorySegment file, int version, Map<String, GgufValue> metadata,
            Map<String, TensorInfo> tensors, long alignment, long dataStart) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.version = version;
        this.metadata = metadata;
        this.tensors = tensors;
        this.alignment = alignment;
        this.dataStart = dataStart;
    }

    /** Maps and parses {@code path}; the caller closes the result to unmap it. */
    public static GgufFile open(Path path) {
        if (Files.isDirectory(path)) {
            throw new GgufException(path + ": is a directory, not a GGUF file");
        }
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment file = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            GgufFile gguf = new Parser(path, file).parse(arena);
            return gguf;
        } catch (NoSuchFileException e) {
            arena.close();
            throw new GgufException(path + ": no such file");
        } catch (IOException e) {
            arena.close();
            throw new GgufException(path + ": cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    @Override
    public Path path() {
        return path;
    }

    public int version() {
        return version;
    }

    public long alignment() {
        return alignment;
    }

    /** Byte offset in the file where tensor data begins. */
    public long dataStart() {
        return dataStart;
    }

    public long fileSize() {
        return file.byteSize();
    }

    /** All metadata, in file order. */
    @Override
    public Map<String, GgufValue> metadata() {
        return metadata;
    }

    /** All tensors, in file order. */
    public List<TensorInfo> tensors() {
        return List.copyOf(tensors.values());
    }

    public GgufValue value(String key) {
        return metadata.get(key);
    }

    public TensorInfo tensor(String name) {
        return tensors.get(name);
    }

    @Override
    public boolean hasTensor(String name) {
        return tensors.containsKey(name);
    }

    @Override
    public GgufException error(String message) {
        return new GgufException(path + ": " + message);
    }

    /** The bytes of a tensor, in place in the mapping. */
    public MemorySegment data(TensorInfo tensor) {
        return file.asSlice(tensor.fileOffset(), tensor.bytes());
    }

    // ---- tensors as matrices ----

    /**
     * The 2-D tensor {@code name} as a matrix of ne1 rows × ne0 columns, checked against the
     * expected shape; throws a clear error if it is missing, misshapen or of an unsupported type.
     */
    @Override
    public Matrix matrix(String name, long cols, long rows) {
        TensorInfo t = requireTensor(name);
        long[] s = t.shape();
        boolean ok = (s.length == 2 && s[0] == cols && s[1] == rows) || (s.length == 1 && rows == 1 && s[0] == cols);
        if (!ok) {
            throw new GgufException(path + ": tensor " + name + " has shape " + t.shapeString() + ", expected ["
                    + cols + ", " + rows + "]");
        }
        requireKernels(t);
        return new Matrix(name, t.type(), data(t), (int) rows, (int) cols);
    }

    /**
     * The 3-D tensor {@code name} of shape [cols, rows, count] as {@code count} matrices of rows ×
     * cols, one per slice along ne2 (the experts of a MoE layer, the heads of MLA's projections).
     */
    @Override
    public Matrix[] matrices(String name, long cols, long rows, int count) {
        TensorInfo t = requireTensor(name);
        long[] s = t.shape();
        if (s.length != 3 || s[0] != cols || s[1] != rows || s[2] != count) {
            throw new GgufException(path + ": tensor " + name + " has shape " + t.shapeString() + ", expected ["
                    + cols + ", " + rows + ", " + count + "]");
        }
        requireKernels(t);
        Matrix all = new Matrix(name, t.type(), data(t), (int) (rows * count), (int) cols);
        Matrix[] out = new Matrix[count];
        for (int i = 0; i < count; i++) {
            out[i] = all.rows(name + "[" + i + "]", (int) (i * rows), (int) rows);
        }
        return out;
    }

    /** A 1-D tensor of {@code n} values (norm weights, biases), decoded to floats. */
    @Override
    public float[] vector(String name, long n) {
        TensorInfo t = requireTensor(name);
        if (t.elements() != n || t.shape()[0] != n) {
            throw new GgufException(path + ": tensor " + name + " has shape " + t.shapeString() + ", expected [" + n + "]");
        }
        requireKernels(t);
        float[] out = new float[(int) n];
        dev.fathom.tensor.kernel.WeightKernel.of(t.type()).dequantize(data(t), 0, out, 0, (int) n);
        return out;
    }

    public TensorInfo requireTensor(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) {
            throw new GgufException(path + ": required tensor " + name + " is missing");
        }
        return t;
    }

    private void requireKernels(TensorInfo t) {
        if (!t.type().hasKernels()) {
            throw new GgufException(path + ": tensor " + t.name() + " has type " + t.type()
                    + ", which Fathom does not support (supported: " + GgmlType.supportedNames() + ")");
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Reads the header, metadata and tensor infos, checking every length against the file size. */
    private static final class Parser {
        private final Path path;
        private final MemorySegment file;
        private final long size;
        private long pos;

        Parser(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
            this.size = file.byteSize();
        }

        GgufFile parse(Arena arena) {
            if (size < 4 || file.get(ValueLayout.JAVA_INT_UNALIGNED, 0) != MAGIC) {
                byte[] head = file.asSlice(0, Math.min(4, size)).toArray(ValueLayout.JAVA_BYTE);
                throw new GgufException(path + ": not a GGUF file (it starts with bytes "
                        + (head.length == 0 ? "<empty file>" : HexFormat.ofDelimiter(" ").formatHex(head))
                        + ", a GGUF file starts with \"GGUF\")");
            }
            pos = 4;
            int version = u32("the version");
            if ((version & 0xFFFF) == 0 && version != 0) {
                throw new GgufException(path + ": big-endian GGUF files are not supported");
            }
            if (version == 1) {
                throw new GgufException(path + ": GGUF version 1 is no longer supported; convert the model again");
            }
            if (version < 2 || version > 3) {
                throw new GgufException(path + ": unsupported GGUF version " + version + " (supported: 2, 3)");
            }
            long tensorCount = i64("the tensor count");
            long kvCount = i64("the metadata count");
            if (tensorCount < 0) {
                throw new GgufException(path + ": negative tensor count " + tensorCount + " at byte 8");
            }
            if (kvCount < 0) {
                throw new GgufException(path + ": negative metadata count " + kvCount + " at byte 16");
            }
            Map<String, GgufValue> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                long at = pos;
                String key = string("the key of metadata entry " + i);
                if (key.isEmpty()) {
                    throw new GgufException(path + ": metadata entry " + i + " at byte " + at + " has an empty key");
                }
                if (metadata.containsKey(key)) {
                    throw new GgufException(path + ": duplicate metadata key " + key + " at byte " + at);
                }
                int typeId = u32("the type of metadata " + key);
                GgufType type = GgufType.byId(typeId);
                if (type == null) {
                    throw new GgufException(path + ": metadata " + key + " has unknown value type " + typeId
                            + " at byte " + (pos - 4));
                }
                metadata.put(key, value(type, key));
            }
            long alignment = DEFAULT_ALIGNMENT;
            GgufValue align = metadata.get("general.alignment");
            if (align != null) {
                if (align.type() != GgufType.UINT32 || (long) align.value() == 0
                        || Long.bitCount((long) align.value()) != 1) {
                    throw new GgufException(path + ": general.alignment must be a power of two (uint32), got " + align);
                }
                alignment = (long) align.value();
            }

            record Pending(String name, long[] shape, GgmlType type, long offset, long bytes, long at) {
            }
            List<Pending> infos = new ArrayList<>();
            Map<String, Boolean> names = new LinkedHashMap<>();
            for (long i = 0; i < tensorCount; i++) {
                long at = pos;
                String name = string("the name of tensor " + i);
                if (names.put(name, true) != null) {
                    throw new GgufException(path + ": duplicate tensor name " + name + " at byte " + at);
                }
                int dims = u32("the dimension count of tensor " + name);
                if (dims < 1 || dims > 4) {
                    throw new GgufException(path + ": tensor " + name + " has " + dims + " dimensions (1 to 4 allowed)");
                }
                long[] shape = new long[dims];
                for (int d = 0; d < dims; d++) {
                    shape[d] = i64("dimension " + d + " of tensor " + name);
                    if (shape[d] < 0) {
                        throw new GgufException(path + ": tensor " + name + " has negative dimension " + shape[d]);
                    }
                }
                int typeId = u32("the type of tensor " + name);
                GgmlType type = GgmlType.byId(typeId);
                if (type == null) {
                    throw new GgufException(path + ": tensor " + name + " has unknown type id " + typeId);
                }
                long offset = i64("the data offset of tensor " + name);
                if (shape[0] % type.blockSize != 0) {
                    throw new GgufException(path + ": tensor " + name + " has a row of " + shape[0] + " values, not a"
                            + " whole number of " + type + " blocks of " + type.blockSize);
                }
                long bytes;
                try {
                    long elements = 1;
                    for (long d : shape) {
                        elements = Math.multiplyExact(elements, d);
                    }
                    bytes = Math.multiplyExact(elements / type.blockSize, (long) type.blockBytes);
                } catch (ArithmeticException e) {
                    throw new GgufException(path + ": tensor " + name + " has shape " + Arrays.toString(shape)
                            + ", too large to address: the file is corrupt");
                }
                infos.add(new Pending(name, shape, type, offset, bytes, at));
            }
            long dataStart = alignUp(pos, alignment);
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Pending p : infos) {
                if (p.offset % alignment != 0) {
                    throw new GgufException(path + ": tensor " + p.name + " data offset " + p.offset
                            + " is not a multiple of the alignment " + alignment);
                }
                // Written so that no sum can overflow: offset and bytes are as large as the file claims.
                if (p.offset < 0 || p.offset > size - dataStart || p.bytes > size - dataStart - p.offset) {
                    throw new GgufException(path + ": tensor " + p.name + " needs " + p.bytes + " bytes at data offset "
                            + p.offset + " but the file ends at byte " + size + " (data from byte " + dataStart
                            + "): the file is truncated or corrupt");
                }
                tensors.put(p.name, new TensorInfo(p.name, p.shape, p.type, dataStart + p.offset, p.bytes));
            }
            checkNoOverlap(tensors.values());
            return new GgufFile(path, arena, file, version, Collections.unmodifiableMap(metadata),
                    Collections.unmodifiableMap(tensors), alignment, dataStart);
        }

        /** Two tensors sharing bytes is a corrupt file, whatever each one's bounds. */
        private void checkNoOverlap(Collection<TensorInfo> tensors) {
            List<TensorInfo> byOffset = new ArrayList<>(tensors);
            byOffset.sort(Comparator.comparingLong(TensorInfo::fileOffset));
            for (int i = 1; i < byOffset.size(); i++) {
                TensorInfo before = byOffset.get(i - 1);
                TensorInfo t = byOffset.get(i);
                if (t.bytes() > 0 && before.fileOffset() + before.bytes() > t.fileOffset()) {
                    throw new GgufException(path + ": tensors " + before.name() + " and " + t.name()
                            + " overlap in the file: it is corrupt");
                }
            }
        }

        private static long alignUp(long n, long alignment) {
            return (n + alignment - 1) / alignment * alignment;
        }

        private void need(long bytes, String what) {
            if (bytes < 0 || pos + bytes > size) {
                throw new GgufException(path + ": truncated at byte " + pos + " while reading " + what + " (needs "
                        + bytes + " bytes, the file has " + size + ")");
            }
        }

        private int u32(String what) {
            need(4, what);
            int v = file.get(ValueLayout.JAVA_INT_UNALIGNED, pos);
            pos += 4;
            return v;
        }

        private long i64(String what) {
            need(8, what);
            long v = file.get(ValueLayout.JAVA_LONG_UNALIGNED, pos);
            pos += 8;
            return v;
        }

        private String string(String what) {
            long length = i64("the length of " + what);
            if (length < 0 || length > (1L << 30)) {
                throw new GgufException(path + ": implausible string length " + length + " at byte " + (pos - 8)
                        + " for " + what);
            }
            need(length, what);
            byte[] bytes = file.asSlice(pos, length).toArray(ValueLayout.JAVA_BYTE);
            pos += length;
            // Malformed UTF-8 becomes U+FFFD rather than an error: llama.cpp does not check strings either.
            return new String(bytes, StandardCharsets.UTF_8);
        }

        private GgufValue value(GgufType type, String key) {
            String what = "the value of " + key;
            if (type == GgufType.ARRAY) {
                int elementId = u32("the element type of " + key);
                GgufType element = GgufType.byId(elementId);
                if (element == null || element == GgufType.ARRAY) {
                    throw new GgufException(path + ": metadata " + key + " is an array of unsupported element type "
                            + elementId);
                }
                long count = i64("the length of " + key);
                long minBytes = element.size > 0 ? element.size : 8;
                if (count < 0 || count > (1L << 30) || count * minBytes > size - pos) {
                    throw new GgufException(path + ": metadata " + key + " claims " + count + " elements at byte "
                            + (pos - 8) + ", more than the file holds");
                }
                return GgufValue.array(element, array(element, (int) count, key));
            }
            Object v = switch (type) {
                case UINT8 -> { need(1, what); yield file.get(ValueLayout.JAVA_BYTE, pos++) & 0xFF; }
                case INT8 -> { need(1, what); yield (int) file.get(ValueLayout.JAVA_BYTE, pos++); }
                case BOOL -> { need(1, what); yield file.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
                case UINT16 -> { need(2, what); int s = file.get(ValueLayout.JAVA_SHORT_UNALIGNED, pos) & 0xFFFF; pos += 2; yield s; }
                case INT16 -> { need(2, what); int s = file.get(ValueLayout.JAVA_SHORT_UNALIGNED, pos); pos += 2; yield s; }
                case UINT32 -> Integer.toUnsignedLong(u32(what));
                case INT32 -> u32(what);
                case FLOAT32 -> Float.intBitsToFloat(u32(what));
                case UINT64, INT64 -> i64(what);
                case FLOAT64 -> Double.longBitsToDouble(i64(what));
                case STRING -> string(what);
                case ARRAY -> throw new AssertionError();
            };
            return GgufValue.of(type, v);
        }

        private Object array(GgufType element, int count, String key) {
            String what = "an element of " + key;
            return switch (element) {
                case STRING -> {
                    String[] a = new String[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = string(what);
                    }
                    yield a;
                }
                case UINT8, INT8, UINT16, INT16, INT32 -> {
                    int[] a = new int[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = ((Number) value(element, key).value()).intValue();
                    }
                    yield a;
                }
                case UINT32, UINT64, INT64 -> {
                    long[] a = new long[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = ((Number) value(element, key).value()).longValue();
                    }
                    yield a;
                }
                case FLOAT32 -> {
                    need(4L * count, what);
                    float[] a = file.asSlice(pos, 4L * count).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
                    pos += 4L * count;
                    yield a;
                }
                case FLOAT64 -> {
                    need(8L * count, what);
                    double[] a = file.asSlice(pos, 8L * count).toArray(ValueLayout.JAVA_DOUBLE_UNALIGNED);
                    pos += 8L * count;
                    yield a;
                }
                case BOOL -> {
                    boolean[] a = new boolean[count];
                    for (int i = 0; i < count; i++) {
                        a[i] = (Boolean) value(element, key).value();
                    }
                    yield a;
                }
                case ARRAY -> throw new AssertionError();
            };
        }
    }
}
