package dev.fathom.model.gguf;

import java.util.Arrays;

/**
 * One metadata value as the file typed it. Scalars are boxed Java values: Integer for the 8-,
 * 16- and signed 32-bit types (unsigned ones widened), Long for UINT32 and the 64-bit types,
 * Float, Double, Boolean, String. Arrays are primitive arrays of the same kinds (int[], long[],
 * float[], double[], boolean[]) or String[], with {@link #elementType()} their GGUF type.
 */
public record GgufValue(GgufType type, GgufType elementType, Object value) {

    public static GgufValue of(GgufType type, Object value) {
        return new GgufValue(type, null, value);
    }

    public static GgufValue array(GgufType elementType, Object array) {
        return new GgufValue(GgufType.ARRAY, elementType, array);
    }

    public boolean isArray() {
        return type == GgufType.ARRAY;
    }

    /** Number of elements of an array value. */
    public int length() {
        return java.lang.reflect.Array.getLength(value);
    }

    /** A short rendering for listings: arrays show their type, length and first elements. */
    public String describe(int maxElements) {
        if (!isArray()) {
            return type == GgufType.STRING ? quote((String) value) : String.valueOf(value);
        }
        int n = length();
        StringBuilder sb = new StringBuilder("[").append(elementType.name().toLowerCase()).append(" × ").append(n);
        if (n > 0) {
            sb.append(": ");
            for (int i = 0; i < Math.min(n, maxElements); i++) {
                Object e = java.lang.reflect.Array.get(value, i);
                sb.append(i > 0 ? ", " : "").append(e instanceof String s ? quote(s) : String.valueOf(e));
            }
            if (n > maxElements) {
                sb.append(", …");
            }
        }
        return sb.append(']').toString();
    }

    private static String quote(String s) {
        String shown = s.length() > 60 ? s.substring(0, 60) + "…" : s;
        return '"' + shown.replace("\\", "\\\\").replace("\n", "\\n").replace("\"", "\\\"") + '"';
    }

    @Override
    public String toString() {
        return describe(8);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufValue v && v.type == type && v.elementType == elementType
                && Arrays.deepEquals(new Object[] {value}, new Object[] {v.value});
    }

    @Override
    public int hashCode() {
        return Arrays.deepHashCode(new Object[] {type, elementType, value});
    }
}
