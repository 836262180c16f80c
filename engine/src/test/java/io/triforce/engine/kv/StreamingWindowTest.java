package io.triforce.engine.kv;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The blocks a StreamingLLM cache on the GPU may run as one step: tokens whose views grow by one each. */
class StreamingWindowTest {

    @ParameterizedTest
    @CsvSource({"4, 16, 3, -1", "4, 16, 3, 40", "0, 8, 0, -1", "2, 1, 2, -1", "4, 16, 3, 9"})
    void tokensSharingViewAreThoseWhoseWindowStartsWhereTheFirstOnes(int sinks, int window, int slack, int skipTo) {
        StreamingWindow positions = new StreamingWindow(sinks, window, slack);
        if (skipTo >= 0) {
            positions.advance(Math.min(sinks, skipTo));
            positions.skipTo(skipTo);
        }
        for (int step = 0; step < 3 * window; step++) {
            for (int m = 1; m <= 2 * window; m++) {
                assertEquals(sharingByDefinition(positions, m), positions.tokensSharingView(m),
                        "length " + positions.length() + ", " + m + " tokens");
            }
            positions.advance(1);
        }
    }

    /** Query p + t sees the view of p plus positions p + 1 .. p + t exactly when its window starts where p's does. */
    private static int sharingByDefinition(StreamingWindow positions, int m) {
        int p = positions.length();
        int t = 1;
        while (t < m && positions.windowFirst(p + t) == positions.windowFirst(p)
                && positions.attendedCount(p + t) == positions.attendedCount(p) + t) {
            t++;
        }
        return t;
    }
}
