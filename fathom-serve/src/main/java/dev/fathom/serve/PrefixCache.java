package dev.fathom.serve;

import dev.fathom.model.arch.KvCache;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.ArrayDeque;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Keys and values of prompts seen before, kept beyond the slots that computed them, so that a
 * request repeating a prefix (a system prompt, the earlier turns of a conversation) skips its
 * prefill even after its slot has served others. Tokens are kept in blocks of {@value #BLOCK},
 * each block found by a hash chained over the blocks before it (so a block matches only after
 * the same prefix), its tokens compared on a hit. Within a memory budget, the least recently used
 * blocks go first. As DeepSeek's context caching, matching starts at the first token and counts
 * whole blocks only.
 *
 * <p>Used by the engine thread only.
 */
final class PrefixCache implements AutoCloseable {
    static final int BLOCK = 64;

    private record Block(int[] tokens, MemorySegment kv) {
    }

    private final KvCache cache;
    private final long budget;
    private final long blockBytes;
    private final Arena arena = Arena.ofShared();
    /** In access order: the eldest is the least recently used. */
    private final Map<Long, Block> blocks = new LinkedHashMap<>(16, 0.75f, true);
    /** Memory of evicted blocks, reused for new ones: the cache never takes more than its budget. */
    private final ArrayDeque<MemorySegment> free = new ArrayDeque<>();

    /** @param budget bytes of keys and values to keep at most */
    PrefixCache(KvCache cache, long budget) {
        this.cache = cache;
        this.budget = budget;
        this.blockBytes = cache.bytesFor(BLOCK);
    }

    /** How many whole blocks the budget holds. */
    int capacity() {
        return (int) (budget / blockBytes);
    }

    int size() {
        return blocks.size();
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
                while (blocks.size() >= capacity()) {
                    var eldest = blocks.values().iterator();
                    free.push(eldest.next().kv());
                    eldest.remove();
                }
                MemorySegment kv = free.isEmpty() ? arena.allocate(blockBytes, 64) : free.pop();
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

    @Override
    public void close() {
        arena.close();
    }
}
