package io.triforce.gateway;

import java.util.HashMap;
import java.util.Map;

/** {@link HubChannels} with a 4 s silence before the gateway re-announces a session, for {@link SessionRecoveryTest}. */
public class RecoveryChannels extends HubChannels {

    static final String REANNOUNCE_AFTER = "4s";

    @Override
    public Map<String, String> start() {
        Map<String, String> config = new HashMap<>(super.start());
        config.put("triforce.gateway.reannounce-after", REANNOUNCE_AFTER);
        return config;
    }
}
