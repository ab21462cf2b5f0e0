package io.disaggmoe.model.layer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The order in which a layer's experts are claimed by the kernel threads. */
class ExpertTest {
  @Test
  void expertsWithTheMostRowsAreClaimedFirstAndTiesKeepIndexOrder() {
    int[] counts = {1, 4, 0, 2, 4, 1, 3};
    assertThat(Expert.mostRowsFirst(counts))
        .as("claim order for row counts %s", java.util.Arrays.toString(counts))
        .containsExactly(1, 4, 6, 3, 0, 5, 2);
  }
}
