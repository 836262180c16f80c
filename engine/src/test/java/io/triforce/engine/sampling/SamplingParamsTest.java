package io.triforce.engine.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class SamplingParamsTest {

    private static String rejection(double temperature, int topK, double topP) {
        return assertThrows(IllegalArgumentException.class, () -> new SamplingParams(temperature, topK, topP, 1))
                .getMessage();
    }

    @Test
    void rejectsNegativeOrNonFiniteTemperature() {
        assertEquals("temperature must be a finite number >= 0 (0 = greedy), got -0.5", rejection(-0.5, 0, 1));
        assertTrue(rejection(Double.NaN, 0, 1).startsWith("temperature must be"));
        assertTrue(rejection(Double.POSITIVE_INFINITY, 0, 1).startsWith("temperature must be"));
    }

    @Test
    void rejectsNegativeTopK() {
        assertEquals("top_k must be >= 0 (0 = no top-k filter), got -1", rejection(1, -1, 1));
    }

    @Test
    void rejectsTopPOutsideZeroToOne() {
        assertEquals("top_p must be in (0, 1] (1 = no top-p filter), got 0.0", rejection(1, 0, 0));
        assertEquals("top_p must be in (0, 1] (1 = no top-p filter), got 1.5", rejection(1, 0, 1.5));
        assertTrue(rejection(1, 0, Double.NaN).startsWith("top_p must be"));
    }

    @Test
    void greedyIsTemperatureZero() {
        assertTrue(SamplingParams.GREEDY.isGreedy());
        assertTrue(new SamplingParams(0, 50, 0.9, 3).isGreedy());
        assertFalse(SamplingParams.ofTemperature(0.7, 3).isGreedy());
    }
}
