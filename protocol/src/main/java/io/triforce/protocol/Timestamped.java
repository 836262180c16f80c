package io.triforce.protocol;

/** A message that carries its sender's send time ({@link Clock#micros}), from which its transit is timed. */
public interface Timestamped {

    long sentAtMicros();
}
