package io.triforce.protocol.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.triforce.protocol.Clock;
import io.triforce.protocol.Correction;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Records are decoded per topic and handed to that topic's handler, timed in transit under the
 * topic name the service is configured with (not the default), and malformed ones are refused
 * without reaching a handler or the timer.
 */
class InboxTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void decodesRoutesAndTimesUnderTheConfiguredTopic() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        List<Correction> received = new ArrayList<>();
        Inbox inbox = new Inbox(JSON, new Transit(registry)).on("acme.corrections", Correction.class, received::add);

        inbox.accept("acme.corrections", JSON.writeValueAsString(new Correction("s", 2, 7, new int[] {4, 5}, Clock.micros())));

        assertEquals(1, received.size());
        assertEquals("s", received.getFirst().sessionId());
        assertArrayEquals(new int[] {4, 5}, received.getFirst().tokens());
        assertEquals(1, registry.get("triforce.message.transit").tag("topic", "acme.corrections").timer().count());
        assertNull(registry.find("triforce.message.transit").tag("topic", "triforce.corrections").timer());
    }

    @Test
    void refusesWhatIsNotAMessageOfItsTopic() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        List<Correction> received = new ArrayList<>();
        Inbox inbox = new Inbox(JSON, new Transit(registry)).on("c", Correction.class, received::add);

        assertThrows(IllegalArgumentException.class, () -> inbox.accept("c", "{not json"));
        assertThrows(IllegalArgumentException.class, () -> inbox.accept("c", "null"));
        assertThrows(IllegalArgumentException.class, () -> inbox.accept("c", null));
        assertThrows(IllegalArgumentException.class, () -> inbox.accept("elsewhere", "{}"));
        assertEquals(0, received.size());
        assertNull(registry.find("triforce.message.transit").timer());
    }
}
