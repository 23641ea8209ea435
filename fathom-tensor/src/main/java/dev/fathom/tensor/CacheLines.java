package dev.fathom.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Where cache lines start inside a float array.
 *
 * <p>A 64-byte vector load that straddles two cache lines costs two loads, and the JVM places
 * arrays on 8-byte boundaries only: seven times in eight, every full-width load from an array
 * straddles. Where loads of activations set the pace, that is what a step costs: on this
 * project's Zen 5 machine, with the 1.5B model's activation rows and decoded weight panels off a
 * line against on one, a decode step of eight sequences (Q8_0, {@code dotFew}) took 12% longer
 * and a 256-token prompt (the tiled path) 10-14% longer. So those rows are laid out from the
 * first element that sits on a line.
 *
 * <p>Java gives no array's address. A zero-length {@code memmove} returns its destination, and a
 * critical downcall may pass it a heap array directly (pinned for the call): that is the address
 * of element 0 at this moment. The collector may move the array later, which costs speed until
 * the next layout, never correctness. Linking it is a restricted method: the launcher and the
 * tests enable native access; without that the JDK warns once, and where it refuses, every
 * layout starts at 0, as a plain array's does.
 */
final class CacheLines {
    static final int BYTES = 64;
    /** Floats per cache line: the most an aligned layout needs beyond the data. */
    static final int FLOATS = BYTES / Float.BYTES;
    private static final MethodHandle ZERO_LENGTH_MOVE = zeroLengthMove();

    private CacheLines() {
    }

    /** The first index of {@code a} whose element starts a cache line; 0 where that cannot be known. */
    static int firstAligned(float[] a) {
        return firstAligned(MemorySegment.ofArray(a), Float.BYTES);
    }

    /** The same for the elements of {@code elementBytes} bytes in {@code array} (heap or native). */
    static int firstAligned(MemorySegment array, int elementBytes) {
        if (ZERO_LENGTH_MOVE == null) {
            return 0;
        }
        try {
            long address = ((MemorySegment) ZERO_LENGTH_MOVE.invokeExact(array, array, 0L)).address();
            return (int) Math.floorMod(-address, BYTES) / elementBytes;
        } catch (Throwable e) {
            return 0;
        }
    }

    private static MethodHandle zeroLengthMove() {
        try {
            Linker linker = Linker.nativeLinker();
            return linker.defaultLookup().find("memmove")
                    .map(memmove -> linker.downcallHandle(memmove,
                            FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                                    ValueLayout.JAVA_LONG),
                            Linker.Option.critical(true)))
                    .orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }
}
