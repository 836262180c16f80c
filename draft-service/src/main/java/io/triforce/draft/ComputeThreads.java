package io.triforce.draft;

import org.eclipse.microprofile.config.ConfigProvider;

/**
 * How many threads the CPU backend of this process computes with ({@code triforce.threads};
 * 0 = one per core). Three services share the machine's cores: their compute threads spin
 * briefly between kernels, so fewer threads per level leave cores to the others (and to Kafka).
 * Applied once, before the first model loads; an explicit {@code -Dtriforce.threads} wins.
 */
final class ComputeThreads {

    private ComputeThreads() {
    }

    static void apply() {
        int threads = ConfigProvider.getConfig().getOptionalValue("triforce.threads", Integer.class).orElse(0);
        if (threads > 0 && System.getProperty("triforce.threads") == null) {
            System.setProperty("triforce.threads", Integer.toString(threads));
        }
    }
}
