package dev.fathom.model.arch;

import dev.fathom.tensor.kernel.SegmentVectors;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Keys and values of every layer for {@code slots} sequences of up to {@code contextLength}
 * positions each, off the Java heap. Keys are stored after RoPE. Row (slot, position) of a layer
 * holds the kv heads side by side.
 *
 * <p>The default element type is f16, as in llama.cpp: half the memory and bandwidth of f32.
 */
public final class KvCache implements AutoCloseable {
    /** The element type of the cache. */
    public enum Type {
        F16(2), F32(4);

        final int bytes;

        Type(int bytes) {
            this.bytes = bytes;
        }

        /** The type named {@code f16} or {@code f32} (any case). */
        public static Type parse(String name) {
            for (Type t : values()) {
                if (t.name().equalsIgnoreCase(name)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("unknown KV cache type '" + name + "' (supported: f16, f32)");
        }
    }

    private final Arena arena = Arena.ofShared();
    private final Type type;
    private final MemorySegment[] keys;
    private final MemorySegment[] values;
    private final int slots;
    private final int contextLength;
    private final int keyWidth;
    private final int valueWidth;

    public KvCache(Type type, int layers, int slots, int contextLength, int keyWidth, int valueWidth) {
        this.type = type;
        this.slots = slots;
        this.contextLength = contextLength;
        this.keyWidth = keyWidth;
        this.valueWidth = valueWidth;
        keys = new MemorySegment[layers];
        values = new MemorySegment[layers];
        try {
            for (int l = 0; l < layers; l++) {
                keys[l] = arena.allocate((long) type.bytes * slots * contextLength * keyWidth, 64);
                values[l] = arena.allocate((long) type.bytes * slots * contextLength * valueWidth, 64);
            }
        } catch (OutOfMemoryError e) { // one large native allocation failed: the heap is fine, say what was asked
            arena.close();
            throw new IllegalStateException(String.format(
                    "not enough memory for a KV cache of %d tokens (%.1f GiB in %s); use a smaller context",
                    (long) slots * contextLength, (double) bytesPerToken() * slots * contextLength / (1L << 30),
                    type.name().toLowerCase()));
        }
    }

    public Type type() {
        return type;
    }

    public int contextLength() {
        return contextLength;
    }

    /** Bytes the cache takes for one position of one sequence, all layers. */
    public long bytesPerToken() {
        return (long) type.bytes * (keyWidth + valueWidth) * keys.length;
    }

    private long row(int slot, int position, int width) {
        return (long) type.bytes * ((long) slot * contextLength + position) * width;
    }

    /** Stores the key row of (slot, position) from {@code k} at {@code offset}. */
    public void storeKey(int layer, int slot, int position, float[] k, int offset) {
        store(keys[layer], row(slot, position, keyWidth), k, offset, keyWidth);
    }

    /** Stores the value row of (slot, position) from {@code v} at {@code offset}. */
    public void storeValue(int layer, int slot, int position, float[] v, int offset) {
        store(values[layer], row(slot, position, valueWidth), v, offset, valueWidth);
    }

    private void store(MemorySegment segment, long at, float[] x, int offset, int n) {
        if (type == Type.F16) {
            SegmentVectors.storeHalves(x, offset, segment, at, n);
        } else {
            SegmentVectors.storeFloats(x, offset, segment, at, n);
        }
    }

    /** Copies {@code n} values of a key row, from element {@code from}, into {@code dst} as floats. */
    public void readKey(int layer, int slot, int position, int from, float[] dst, int n) {
        read(keys[layer], row(slot, position, keyWidth) + (long) type.bytes * from, dst, n);
    }

    /** Copies the key rows of positions [{@code first}, {@code first + count}) of a slot into {@code dst}, as floats. */
    public void readKeys(int layer, int slot, int first, int count, float[] dst) {
        read(keys[layer], row(slot, first, keyWidth), dst, count * keyWidth);
    }

    /** Copies the value rows of positions [{@code first}, {@code first + count}) of a slot into {@code dst}, as floats. */
    public void readValues(int layer, int slot, int first, int count, float[] dst) {
        read(values[layer], row(slot, first, valueWidth), dst, count * valueWidth);
    }

    /** Copies {@code n} values of a value row, from element {@code from}, into {@code dst} as floats. */
    public void readValue(int layer, int slot, int position, int from, float[] dst, int n) {
        read(values[layer], row(slot, position, valueWidth) + (long) type.bytes * from, dst, n);
    }

    private void read(MemorySegment segment, long at, float[] dst, int n) {
        if (type == Type.F16) {
            SegmentVectors.loadHalves(segment, at, dst, 0, n);
        } else {
            MemorySegment.copy(segment, java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, at, dst, 0, n);
        }
    }

    /** Bytes that {@link #save} writes for {@code count} positions. */
    public long bytesFor(int count) {
        return bytesPerToken() * count;
    }

    /**
     * Copies positions [{@code from}, {@code from + count}) of {@code slot}, every layer's keys and
     * values, into {@code dst} (at least {@link #bytesFor} bytes): for a prefix cache that outlives
     * the slot's next sequence.
     */
    public void save(int slot, int from, int count, MemorySegment dst) {
        transfer(slot, from, count, dst, true);
    }

    /** Copies what {@link #save} wrote back into positions [{@code from}, {@code from + count}) of {@code slot}. */
    public void restore(int slot, int from, int count, MemorySegment src) {
        transfer(slot, from, count, src, false);
    }

    private void transfer(int slot, int from, int count, MemorySegment other, boolean out) {
        if (slot < 0 || slot >= slots || from < 0 || count < 0 || from + count > contextLength) {
            throw new IndexOutOfBoundsException("positions " + from + " + " + count + " of slot " + slot);
        }
        long at = 0;
        for (int l = 0; l < keys.length; l++) {
            for (MemorySegment[] part : new MemorySegment[][] {keys, values}) {
                int width = part == keys ? keyWidth : valueWidth;
                long bytes = (long) type.bytes * count * width;
                long row = row(slot, from, width);
                if (out) {
                    MemorySegment.copy(part[l], row, other, at, bytes);
                } else {
                    MemorySegment.copy(other, at, part[l], row, bytes);
                }
                at += bytes;
            }
        }
    }

    /** Checks that a batch only touches existing slots and positions. */
    void check(Batch batch) {
        for (int i = 0; i < batch.size(); i++) {
            if (batch.sequence(i) < 0 || batch.sequence(i) >= slots) {
                throw new IllegalArgumentException("sequence " + batch.sequence(i) + " outside the cache's " + slots + " slots");
            }
            if (batch.position(i) < 0 || batch.position(i) >= contextLength) {
                throw new ContextOverflowException(batch.position(i) + 1, contextLength);
            }
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
