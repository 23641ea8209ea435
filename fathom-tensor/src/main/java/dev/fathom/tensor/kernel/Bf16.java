package dev.fathom.tensor.kernel;

/** bfloat16: the top half of an f32. */
public final class Bf16 {
    private Bf16() {
    }

    static float toFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /** Rounds to nearest even, keeping NaNs quiet, as ggml does. */
    static short fromFloat(float value) {
        int u = Float.floatToRawIntBits(value);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 64);
        }
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }

    /** {@code value} rounded to the nearest bfloat16. */
    public static float round(float value) {
        return toFloat(fromFloat(value));
    }
}
