package dev.fathom.tensor;

import jdk.incubator.vector.FloatVector;

/**
 * How many vector registers the CPU has, which decides how large a register tile of a matrix
 * product may be before the JIT has to spill accumulators to the stack on every step: 32 with
 * AVX-512 and on Arm, 16 with AVX2 or SSE. The property {@code fathom.vectorRegisters} (16 or 32)
 * overrides it, so that the tests run both tilings on any machine.
 */
public final class VectorRegisters {
    private VectorRegisters() {
    }

    public static final int COUNT = count();

    private static int count() {
        boolean many = FloatVector.SPECIES_PREFERRED.vectorBitSize() >= 512 || "aarch64".equals(System.getProperty("os.arch"));
        int count = Integer.getInteger("fathom.vectorRegisters", many ? 32 : 16);
        if (count != 16 && count != 32) {
            throw new ExceptionInInitializerError("fathom.vectorRegisters must be 16 or 32, not " + count);
        }
        return count;
    }
}
