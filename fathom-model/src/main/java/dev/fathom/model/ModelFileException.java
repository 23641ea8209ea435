package dev.fathom.model;

/** A model file (GGUF, safetensors, a checkpoint's JSON) that cannot be used: the message names the file and what is wrong. */
public class ModelFileException extends RuntimeException {
    public ModelFileException(String message) {
        super(message);
    }
}
