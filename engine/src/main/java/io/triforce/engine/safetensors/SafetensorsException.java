package io.triforce.engine.safetensors;

/**
 * A {@code .safetensors} file or shard index that cannot be read or is malformed. The message
 * names the file and, where one is at fault, the tensor.
 */
public class SafetensorsException extends RuntimeException {

    public SafetensorsException(String message) {
        super(message);
    }

    public SafetensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
