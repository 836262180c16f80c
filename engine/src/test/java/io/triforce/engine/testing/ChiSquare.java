package io.triforce.engine.testing;

/**
 * Pearson's chi-square goodness-of-fit test of observed counts against exact probabilities.
 * Cells whose expected count is below {@link #MIN_EXPECTED} are pooled into one cell (dropped
 * if even the pool stays below it); a count in a cell of probability zero fails outright.
 * Critical values use the Wilson-Hilferty approximation, accurate to a few percent for the
 * degrees of freedom used here.
 */
public final class ChiSquare {

    public static final double MIN_EXPECTED = 5;

    private ChiSquare() {
    }

    /**
     * @param statistic  Pearson's X^2
     * @param df         degrees of freedom (cells after pooling, minus one)
     * @param critical   the X^2 a correct sampler exceeds with probability {@code alpha}
     * @param impossible draws that fell where the probability is zero
     */
    public record Result(double statistic, int df, double critical, double alpha, long impossible) {

        public boolean fits() {
            return impossible == 0 && statistic <= critical;
        }

        @Override
        public String toString() {
            return String.format("X^2 = %.1f with %d degrees of freedom (critical %.1f at alpha %.0e), "
                    + "%d impossible draws", statistic, df, critical, alpha, impossible);
        }
    }

    /** Tests {@code counts} (summing to n) against {@code probabilities} (summing to 1) at level {@code alpha}. */
    public static Result test(long[] counts, double[] probabilities, double alpha) {
        if (counts.length != probabilities.length) {
            throw new IllegalArgumentException(counts.length + " counts for " + probabilities.length + " cells");
        }
        long n = 0;
        for (long c : counts) {
            n += c;
        }
        double statistic = 0;
        int cells = 0;
        long impossible = 0;
        double pooledExpected = 0;
        long pooledObserved = 0;
        for (int i = 0; i < counts.length; i++) {
            double expected = n * probabilities[i];
            if (probabilities[i] == 0) {
                impossible += counts[i];
            } else if (expected < MIN_EXPECTED) {
                pooledExpected += expected;
                pooledObserved += counts[i];
            } else {
                statistic += square(counts[i] - expected) / expected;
                cells++;
            }
        }
        if (pooledExpected >= MIN_EXPECTED) {
            statistic += square(pooledObserved - pooledExpected) / pooledExpected;
            cells++;
        }
        int df = Math.max(1, cells - 1);
        return new Result(statistic, df, critical(df, alpha), alpha, impossible);
    }

    /** The upper-alpha quantile of chi-square with {@code df} degrees of freedom (Wilson-Hilferty). */
    public static double critical(int df, double alpha) {
        double z = normalQuantile(1 - alpha);
        double a = 2.0 / (9.0 * df);
        return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
    }

    /** The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9). */
    static double normalQuantile(double p) {
        double[] a = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
        double[] b = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                6.680131188771972e+01, -1.328068155288572e+01};
        double[] c = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
        double[] d = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                3.754408661907416e+00};
        double low = 0.02425;
        if (p < low) {
            double q = Math.sqrt(-2 * Math.log(p));
            return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5])
                    / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        }
        if (p > 1 - low) {
            return -normalQuantile(1 - p);
        }
        double q = p - 0.5;
        double r = q * q;
        return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
                / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
    }

    private static double square(double x) {
        return x * x;
    }
}
