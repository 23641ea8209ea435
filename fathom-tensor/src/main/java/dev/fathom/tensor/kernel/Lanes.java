package dev.fathom.tensor.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector shapes the kernels use, derived from the CPU's preferred width (capped at 512 bits).
 *
 * <p>Quantized dot products run on short lanes: weight quants (at most 6 bits plus sign) times
 * int8 activations fit in 16 bits, so a vector multiply handles twice as many products as it
 * would on ints. Partial sums are widened to ints before they can overflow, converted to float
 * once per block, and accumulated vertically.
 *
 * <p>The kernels spell their vector code out rather than sharing helper methods, on purpose:
 * C2 stops inlining ordinary methods once a method's graph is large, and a vector passed to a
 * method that was not inlined is boxed, which makes the kernel an order of magnitude slower.
 * The Vector API's own methods are force-inlined, so code made only of them stays intact.
 * Likewise every species is one of the constants here, never taken from a vector: the JIT only
 * turns an operation into instructions when it can see the species. For the same reason the
 * kernels read f16 scales with {@code Float.float16ToFloat(segment.get(F16, offset))} rather
 * than {@link #f16}: in a large kernel even that small method is left as a call. In the largest
 * ones (Q4_K, Q5_K) C2 at times left {@code segment.get} itself as a chain of calls down to the
 * segment's bounds check, which made decoding 4 to 13 times slower in some runs and not in
 * others; they read their block header with one vector load and take its lanes.
 *
 * <h2>Paired products (the 4- to 6-bit formats)</h2>
 * The Vector API has no instruction that multiplies and adds neighbouring lanes (x86's
 * {@code vpmaddwd}, Arm's {@code sdot}), and widening short products pairwise to ints costs more
 * than the products. The kernels of the 4- to 6-bit formats make one 32-bit multiply do two
 * products and their sum instead. A weight lane holds two unsigned quants 16 bits apart,
 * w = q₀ + q₁·2¹⁶, and the matching activation lane holds the two activations the other way
 * round, a = y₁ + y₀·2¹⁶ ({@code QuantizedVector.pairs}). Modulo 2³²,
 * <pre>  w · a = q₀y₁ + (q₀y₀ + q₁y₁)·2¹⁶,</pre>
 * so the top half holds the pair's dot product, and the bottom half a cross term that stays
 * below 2¹⁵ in magnitude. Several such products add up in one lane as long as the top half
 * stays below 2¹⁵ and the bottom one too; then adding 2¹⁵ and shifting right by 16 (arithmetic)
 * yields the exact sum of the pairs' dot products. The weights' bytes land in such lanes
 * without widening: an int lane loaded from bytes b₀..b₃ gives bytes 0 and 2 (the "even" pair)
 * under the mask {@code 0x000F000F}, bytes 1 and 3 (the "odd" pair) once shifted right by 8,
 * and the high nibbles four bits further on. The K-quant kernels take 256-bit vectors
 * ({@link #P}): one int lane per 4 bytes of a 32-byte run of quants, which is how the K-quants
 * lay out their values; on 512-bit machines ({@link #WIDE}) one vector holds two runs, and the
 * activation pairs of Q8_K are ordered for that (groups g and g + 2 side by side), which costs
 * the 256-bit kernels nothing but other offsets. The 32-value formats keep a block's 16 bytes
 * of nibbles (the low ones values 0-15, the high ones 16-31) in four lanes ({@link #P4}); on
 * 512-bit machines four blocks a round, gathered from their unaligned places ({@link FourBlocks}).
 */
final class Lanes {
    private Lanes() {
    }

    static final int BITS = Math.min(512, FloatVector.SPECIES_PREFERRED.vectorBitSize());
    static final VectorShape SHAPE = VectorShape.forBitSize(BITS);

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED.withShape(SHAPE);
    static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED.withShape(SHAPE);
    static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED.withShape(SHAPE);
    /** Bytes that widen into a full vector of shorts. */
    static final VectorSpecies<Byte> B_FOR_S = VectorSpecies.of(byte.class, VectorShape.forBitSize(BITS / 2));
    /** Shorts that widen into a full vector of ints. */
    static final VectorSpecies<Short> S_FOR_I = VectorSpecies.of(short.class, VectorShape.forBitSize(BITS / 2));

    /**
     * Bytes that widen into a full vector of floats or ints (one per lane), by part 0 of the
     * conversion. No byte vector is narrower than 64 bits, so on 128-bit machines this one holds
     * twice the bytes needed: read it with {@link #bytesForFloats}, which never reads past them.
     */
    static final VectorSpecies<Byte> B_FOR_F = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, BITS / 4)));
    /** Whether {@link #B_FOR_F} is wider than the bytes one vector of floats takes (128-bit machines). */
    private static final boolean B_FOR_F_PADDED = B_FOR_F.length() > F.length();

    /** Ints for the paired products of the K-quant kernels: 8 lanes (4 on 128-bit machines). See above. */
    static final VectorSpecies<Integer> P = IntVector.SPECIES_PREFERRED.withShape(VectorShape.forBitSize(Math.min(256, BITS)));
    /** Floats as wide as {@link #P}. */
    static final VectorSpecies<Float> PF = P.withLanes(float.class);
    /** Whether {@link #P} has a lane for each of a K-quant super-block's eight sub-blocks. */
    static final boolean P8 = P.length() == 8;
    /**
     * Ints for the paired products of the 32-value formats (Q4_0, Q4_1, Q5_0, Q5_1), whose 16
     * bytes of nibbles fill four lanes: 128 bits on every machine.
     */
    static final VectorSpecies<Integer> P4 = IntVector.SPECIES_128;
    /** Floats as wide as {@link #P4}. */
    static final VectorSpecies<Float> PF4 = FloatVector.SPECIES_128;
    /**
     * Whether the K-quant kernels take 512 bits at a time: one load holds two runs of 32 quant
     * bytes, whose int lanes meet the activation pairs of groups g and g + 2 side by side (the
     * order {@code QuantizedVector.pairs} keeps for Q8_K). Half the instructions of {@link #P}.
     */
    static final boolean WIDE = BITS == 512;
    /** Ints for the K-quant kernels on 512-bit machines ({@link #WIDE}). */
    static final VectorSpecies<Integer> W = IntVector.SPECIES_512;
    /** Floats as wide as {@link #W}. */
    static final VectorSpecies<Float> WF = FloatVector.SPECIES_512;
    /** Sixteen bytes, to widen into {@link #W} ints. */
    static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;

    /** For {@link #W}: a vector's first 256 bits, in both halves. */
    static final VectorShuffle<Integer> FIRST_TWICE = VectorShuffle.fromOp(W, lane -> lane % 8);
    /** For {@link #W}: a vector's second 256 bits, in both halves. */
    static final VectorShuffle<Integer> SECOND_TWICE = VectorShuffle.fromOp(W, lane -> 8 + lane % 8);
    /**
     * For {@link #W}, from the eight sub-block scales of a Q4_K or Q5_K super-block in lanes 0-7:
     * the scales of sub-blocks g and g + 2 spread over the lanes their quants take.
     */
    static final VectorShuffle<Integer> SUB_BLOCKS_0_2 = halves(0, 2);
    static final VectorShuffle<Integer> SUB_BLOCKS_1_3 = halves(1, 3);
    static final VectorShuffle<Integer> SUB_BLOCKS_4_6 = halves(4, 6);
    static final VectorShuffle<Integer> SUB_BLOCKS_5_7 = halves(5, 7);

    private static VectorShuffle<Integer> halves(int low, int high) {
        return VectorShuffle.fromOp(W, lane -> lane < 8 ? low : high);
    }

    /** For {@link #W}: {@code low} in lanes 0-7, {@code high} in lanes 8-15 (per-half shift counts). */
    static IntVector spread(int low, int high) {
        return IntVector.fromArray(W, java.util.stream.IntStream.range(0, 16).map(lane -> lane < 8 ? low : high).toArray(), 0);
    }

    /**
     * The folds ({@link VectorMath#folds}) that sum the lanes of a vector of {@link #F} (1 to 3
     * of them, for 4 to 16 lanes), {@link #PF} (1 or 2) or {@link #WF} (always 3) in a fixed
     * order, one by one. Kernels write them out, then add lanes 0 and 1:
     * <pre>  acc = acc.add(acc.rearrange(F_FOLD_0));
     *  if (F_FOLD_COUNT > 1) acc = acc.add(acc.rearrange(F_FOLD_1)); ...</pre>
     * never as a loop over an array of them: in some compiles C2 left such a loop rolled and boxed
     * the accumulators on every trip (Q8_0's row pairs: twice the code and a fifth slower).
     * Past the count, a fold constant repeats the last one and is never used.
     */
    private static final VectorShuffle<Float>[] F_FOLDS = VectorMath.folds(F);
    static final int F_FOLD_COUNT = F_FOLDS.length;
    static final VectorShuffle<Float> F_FOLD_0 = F_FOLDS[0];
    static final VectorShuffle<Float> F_FOLD_1 = F_FOLDS[Math.min(1, F_FOLD_COUNT - 1)];
    static final VectorShuffle<Float> F_FOLD_2 = F_FOLDS[Math.min(2, F_FOLD_COUNT - 1)];
    private static final VectorShuffle<Float>[] PF_FOLDS = VectorMath.folds(PF);
    static final int PF_FOLD_COUNT = PF_FOLDS.length;
    static final VectorShuffle<Float> PF_FOLD_0 = PF_FOLDS[0];
    static final VectorShuffle<Float> PF_FOLD_1 = PF_FOLDS[Math.min(1, PF_FOLD_COUNT - 1)];
    private static final VectorShuffle<Float>[] WF_FOLDS = VectorMath.folds(WF);
    static final VectorShuffle<Float> WF_FOLD_0 = WF_FOLDS[0];
    static final VectorShuffle<Float> WF_FOLD_1 = WF_FOLDS[1];
    static final VectorShuffle<Float> WF_FOLD_2 = WF_FOLDS[2];

    /** Eight bytes (a super-block's eight 6-bit scales or minimums), to widen into {@link #P} ints. */
    static final VectorSpecies<Byte> B8 = ByteVector.SPECIES_64;
    /** Two ints: the way eight bytes computed in scalar code enter a vector. */
    static final VectorSpecies<Integer> I2 = IntVector.SPECIES_64;

    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    /** Little-endian like the lane order of {@code reinterpretAsBytes}. */
    private static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED;
    static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED;

    static {
        if (32 % S.length() != 0) {
            throw new ExceptionInInitializerError("unsupported vector width: " + BITS + " bits");
        }
    }

    /**
     * The {@code F.length()} bytes at {@code offset} in the low lanes of a {@link #B_FOR_F} vector.
     * A padded vector is filled from one int load, so the last block of a tensor never reads
     * beyond its end. The branch is on a constant, and the method is small enough that C2
     * inlines it into every kernel.
     */
    static ByteVector bytesForFloats(MemorySegment segment, long offset) {
        if (B_FOR_F_PADDED) {
            return IntVector.broadcast(I2, segment.get(INT_LE, offset)).reinterpretAsBytes();
        }
        return ByteVector.fromMemorySegment(B_FOR_F, segment, offset, LE);
    }

    /** The f16 value at {@code offset}. */
    static float f16(MemorySegment segment, long offset) {
        return Float.float16ToFloat(segment.get(F16, offset));
    }

}
