package dev.fathom.model.gguf;

/** A model file that cannot be used, with a message that names the file and what is wrong. */
public class GgufException extends RuntimeException {
    public GgufException(String message) {
        super(message);
    }
}
