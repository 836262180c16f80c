package io.triforce.engine.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** Assertions on what an error message tells the user. */
public final class ErrorMessages {

    private ErrorMessages() {
    }

    /** Fails unless the message of {@code error} contains every one of {@code fragments}. */
    public static void assertMentions(Throwable error, String... fragments) {
        String message = String.valueOf(error.getMessage());
        for (String fragment : fragments) {
            assertTrue(message.contains(fragment), () -> "message lacks \"" + fragment + "\": " + message);
        }
    }
}
