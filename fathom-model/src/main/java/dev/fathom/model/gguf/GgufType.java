package dev.fathom.model.gguf;

/** The value types of GGUF metadata, with their ids in the file. */
public enum GgufType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4), FLOAT32(6, 4),
    BOOL(7, 1), STRING(8, -1), ARRAY(9, -1), UINT64(10, 8), INT64(11, 8), FLOAT64(12, 8);

    public final int id;
    /** Bytes of one value, or -1 for the variable-length types. */
    final int size;

    GgufType(int id, int size) {
        this.id = id;
        this.size = size;
    }

    static GgufType byId(int id) {
        for (GgufType t : values()) {
            if (t.id == id) {
                return t;
            }
        }
        return null;
    }
}
