package dev.fathom.serve;

import dev.fathom.model.arch.KvCache;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Logger;

/**
 * Keys and values of prompts seen before, kept beyond the slots that computed them, so that a
 * request repeating a prefix (a system prompt, the earlier turns of a conversation) skips its
 * prefill even after its slot has served others. Tokens are kept in blocks of {@value #BLOCK},
 * each block found by a hash chained over the blocks before it (so a block matches only after
 * the same prefix), its tokens compared on a hit. Within a memory budget, the least recently used
 * blocks go first: to disk, when there is a disk budget (as DeepSeek's context caching on disk;
 * MLA's latent keys make a block small), from where a hit brings them back, else away. As
 * DeepSeek's context caching, matching starts at the first token and counts whole blocks only.
 *
 * <p>Used by the engine thread only.
 */
final class PrefixCache implements AutoCloseable {
    static final int BLOCK = 64;
    private static final Logger LOG = Logger.getLogger(PrefixCache.class.getName());

    private record Block(int[] tokens, MemorySegment kv) {
    }

    private final KvCache cache;
    private final long budget;
    private final long blockBytes;
    private final Arena arena = Arena.ofShared();
    /** In access order: the eldest is the least recently used. */
    private final Map<Long, Block> blocks = new LinkedHashMap<>(16, 0.75f, true);
    /** Memory of blocks that could not be read back, for the next one. */
    private final ArrayDeque<MemorySegment> free = new ArrayDeque<>();
    /** Blocks on disk, in access order; each block's file holds its keys and values, named by its key. */
    private final Map<Long, int[]> spilled = new LinkedHashMap<>(16, 0.75f, true);
    /** Where spilled blocks go (a directory of this cache's own), or null when there is no disk budget. */
    private final Path directory;
    private final long diskBudget;
    private boolean diskFailed;

    /**
     * @param budget bytes of keys and values to keep in memory at most
     * @param spillTo where to make the directory of blocks spilled to disk (null: none)
     * @param diskBudget bytes of blocks to keep on disk at most
     */
    PrefixCache(KvCache cache, long budget, Path spillTo, long diskBudget) {
        this.cache = cache;
        this.budget = budget;
        this.blockBytes = cache.bytesFor(BLOCK);
        this.diskBudget = diskBudget;
        try {
            this.directory = spillTo == null || diskBudget < blockBytes ? null
                    : Files.createTempDirectory(Files.createDirectories(spillTo), "fathom-prefix-cache-");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make a directory for the prefix cache in " + spillTo + ": " + e.getMessage(), e);
        }
    }

    /** How many whole blocks the memory budget holds. */
    int capacity() {
        return (int) (budget / blockBytes);
    }

    /** The hash of a block of {@code tokens} from {@code from}, after the blocks whose hash is {@code parent}. */
    private static long key(long parent, int[] tokens, int from) {
        long h = parent * 0x9E3779B97F4A7C15L + 1;
        for (int i = from; i < from + BLOCK; i++) {
            h = (h ^ tokens[i]) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
        }
        return h;
    }

    /** Keeps the whole blocks of {@code tokens[0, length)}, which {@code slot} holds in the KV cache. */
    void store(int slot, int[] tokens, int length) {
        if (capacity() == 0) {
            return;
        }
        long parent = 0;
        for (int b = 0; (b + 1) * BLOCK <= length; b++) {
            long key = key(parent, tokens, b * BLOCK);
            Block known = blocks.get(key); // a hit also marks the block as recently used
            if (known == null) {
                forget(key); // a copy on disk would be older than this one
                MemorySegment kv = room();
                cache.save(slot, b * BLOCK, BLOCK, kv);
                blocks.put(key, new Block(Arrays.copyOfRange(tokens, b * BLOCK, (b + 1) * BLOCK), kv));
            }
            parent = key;
        }
    }

    /**
     * Restores into {@code slot} the kept blocks that begin {@code prompt[0, limit)} and reach
     * past the {@code have} tokens the slot holds already; returns how many leading tokens of the
     * prompt the slot now holds.
     */
    int restore(int slot, int[] prompt, int have, int limit) {
        long parent = 0;
        int matched = 0;
        for (int b = 0; (b + 1) * BLOCK <= limit; b++) {
            long key = key(parent, prompt, b * BLOCK);
            Block block = blocks.get(key);
            if (block == null) {
                block = load(key, prompt, b * BLOCK);
            }
            if (block == null || !Arrays.equals(block.tokens(), 0, BLOCK, prompt, b * BLOCK, (b + 1) * BLOCK)) {
                break;
            }
            if ((b + 1) * BLOCK > have) {
                // The slot may hold the start of this block already: the same tokens, so the same keys and values.
                cache.restore(slot, b * BLOCK, BLOCK, block.kv());
            }
            matched = (b + 1) * BLOCK;
            parent = key;
        }
        return Math.max(have, matched);
    }

    /** Memory for one more block: new while under budget, else the least recently used block's, spilled first. */
    private MemorySegment room() {
        if (!free.isEmpty()) {
            return free.pop();
        }
        if (blocks.size() < capacity()) {
            return arena.allocate(blockBytes, 64);
        }
        var eldest = blocks.entrySet().iterator().next();
        blocks.remove(eldest.getKey());
        spill(eldest.getKey(), eldest.getValue());
        return eldest.getValue().kv();
    }

    private void spill(long key, Block block) {
        if (directory == null || diskFailed) {
            return;
        }
        while (!spilled.isEmpty() && (spilled.size() + 1) * blockBytes > diskBudget) {
            forget(spilled.keySet().iterator().next());
        }
        Path file = file(key);
        try (FileChannel out = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ByteBuffer bytes = block.kv().asByteBuffer();
            while (bytes.hasRemaining()) {
                out.write(bytes);
            }
            spilled.put(key, block.tokens());
        } catch (IOException e) {
            // The cache only saves time: without its disk, requests prefill what it would have kept.
            diskFailed = true;
            LOG.warning("the prefix cache stops spilling to " + directory + ": " + e);
            deleteQuietly(file);
        }
    }

    /** The spilled block under {@code key} whose tokens are {@code tokens[from, from + BLOCK)}, back in memory; or null. */
    private Block load(long key, int[] tokens, int from) {
        int[] known = spilled.get(key);
        if (known == null || !Arrays.equals(known, 0, BLOCK, tokens, from, from + BLOCK) || capacity() == 0) {
            return null;
        }
        spilled.remove(key);
        Path file = file(key);
        MemorySegment kv = room();
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer bytes = kv.asByteBuffer();
            while (bytes.hasRemaining()) {
                if (in.read(bytes) < 0) {
                    throw new IOException("the file ends after " + bytes.position() + " of " + blockBytes + " bytes");
                }
            }
        } catch (IOException e) {
            LOG.warning("the prefix cache cannot read back " + file + ": " + e);
            free.push(kv);
            return null;
        } finally {
            deleteQuietly(file);
        }
        Block block = new Block(known, kv);
        blocks.put(key, block);
        return block;
    }

    /** Drops the spilled copy of block {@code key}, if any. */
    private void forget(long key) {
        if (spilled.remove(key) != null) {
            deleteQuietly(file(key));
        }
    }

    private Path file(long key) {
        return directory.resolve(Long.toHexString(key) + ".kv");
    }

    private static void deleteQuietly(Path file) {
        try {
            Files.deleteIfExists(file);
        } catch (IOException e) {
            LOG.warning("cannot delete " + file + ": " + e);
        }
    }

    @Override
    public void close() {
        arena.close();
        if (directory != null) {
            spilled.keySet().forEach(key -> deleteQuietly(file(key)));
            spilled.clear();
            deleteQuietly(directory);
        }
    }
}
