package io.disaggmoe.proto.wire;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** A thread's scratch array grows for a large message and shrinks back after it. */
class ScratchBytesTest {
  @Test
  void anArrayGrownForOneHugeMessageShrinksForTheNextSmallOne() {
    ScratchBytes scratch = new ScratchBytes();
    byte[] small = scratch.take(1000);
    assertThat(scratch.take(500)).as("a small array is kept").isSameAs(small);
    assertThat(scratch.take(200 << 20)).hasSizeGreaterThanOrEqualTo(200 << 20);
    assertThat(scratch.take(1000).length)
        .as("bytes held after the huge message")
        .isEqualTo(ScratchBytes.KEEP);
    byte[] kept = scratch.take(1000);
    assertThat(scratch.take(ScratchBytes.KEEP)).as("up to KEEP it is kept").isSameAs(kept);
  }
}
