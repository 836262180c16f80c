package io.triforce.engine.sampling;

import java.util.Arrays;

/**
 * Indices of the largest values of an array, in descending order of value, equal values in
 * ascending order of index, found without sorting the whole array when few are wanted.
 */
final class TopSelection {

    private TopSelection() {
    }

    /** The indices of the {@code m} largest values (1 <= m <= values.length), largest first. */
    static int[] largest(float[] values, int m) {
        int n = values.length;
        long[] keys;
        if (m > n / 8) {
            keys = new long[n];
            for (int i = 0; i < n; i++) {
                keys[i] = key(values[i], i);
            }
            Arrays.sort(keys);
            keys = Arrays.copyOfRange(keys, n - m, n);
        } else {
            keys = heapOfLargest(values, m);
            Arrays.sort(keys);
        }
        int[] top = new int[m];
        for (int i = 0; i < m; i++) {
            top[i] = ~(int) keys[m - 1 - i];
        }
        return top;
    }

    /** A min-heap of the m largest keys. */
    private static long[] heapOfLargest(float[] values, int m) {
        long[] heap = new long[m];
        for (int i = 0; i < m; i++) {
            heap[i] = key(values[i], i);
            for (int c = i; c > 0 && heap[(c - 1) / 2] > heap[c]; c = (c - 1) / 2) {
                swap(heap, c, (c - 1) / 2);
            }
        }
        for (int i = m; i < values.length; i++) {
            long k = key(values[i], i);
            if (k > heap[0]) {
                heap[0] = k;
                siftDown(heap);
            }
        }
        return heap;
    }

    private static void siftDown(long[] heap) {
        int p = 0;
        while (true) {
            int c = 2 * p + 1;
            if (c >= heap.length) {
                return;
            }
            if (c + 1 < heap.length && heap[c + 1] < heap[c]) {
                c++;
            }
            if (heap[p] <= heap[c]) {
                return;
            }
            swap(heap, p, c);
            p = c;
        }
    }

    private static void swap(long[] a, int i, int j) {
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
    }

    /**
     * A long ordered like (value, -index): the float's bits made order-preserving as a signed
     * int in the high half, the complemented index (larger for smaller indices) in the low half.
     */
    private static long key(float value, int index) {
        int bits = Float.floatToIntBits(value);
        int ordered = bits ^ ((bits >> 31) & 0x7FFFFFFF);
        return (long) ordered << 32 | (~index & 0xFFFFFFFFL);
    }
}
