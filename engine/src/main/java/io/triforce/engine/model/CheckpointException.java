package io.triforce.engine.model;

/**
 * A checkpoint directory that cannot be loaded: missing files, a config.json that is malformed
 * or asks for something unsupported, missing weights or weights of the wrong shape. The message
 * names the path, field or tensor at fault.
 */
public class CheckpointException extends RuntimeException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
