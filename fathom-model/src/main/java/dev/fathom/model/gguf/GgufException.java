package dev.fathom.model.gguf;

import dev.fathom.model.ModelFileException;

/** A GGUF file that cannot be used, with a message that names the file and what is wrong. */
public class GgufException extends ModelFileException {
    public GgufException(String message) {
        super(message);
    }
}
