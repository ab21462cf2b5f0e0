package io.disaggmoe.model.text;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class StopStringMatcherTest {
  @Test
  void holdsBackOnlyWhatCouldStartAStopString() {
    StopStringMatcher m = new StopStringMatcher(List.of("END"));
    assertThat(m.accept("abc E")).isEqualTo("abc ");
    assertThat(m.accept("N")).isEmpty();
    assertThat(m.accept("X")).isEqualTo("ENX");
    assertThat(m.stopped()).isFalse();
  }

  @Test
  void aStopStringSplitOverSeveralPiecesEndsTheTextBeforeIt() {
    StopStringMatcher m = new StopStringMatcher(List.of("\n\nUser:"));
    StringBuilder out = new StringBuilder();
    for (String piece : List.of("The answer", " is 4.", "\n", "\nUs", "er:", " more")) {
      out.append(m.accept(piece));
    }
    assertThat(out.toString()).isEqualTo("The answer is 4.");
    assertThat(m.stopped()).isTrue();
    assertThat(m.flush()).isEmpty();
  }

  @Test
  void theEarliestOfSeveralStopStringsWins() {
    StopStringMatcher m = new StopStringMatcher(List.of("world", "lo"));
    assertThat(m.accept("hello world")).isEqualTo("hel");
  }

  @Test
  void anIncludedStopStringEndsTheText() {
    StopStringMatcher m = new StopStringMatcher(List.of("\n\nUser:", "lo"), true);
    StringBuilder out = new StringBuilder();
    for (String piece : List.of("The answer", " is 4.", "\n", "\nUs", "er:", " more")) {
      out.append(m.accept(piece));
    }
    assertThat(out.toString()).isEqualTo("The answer is 4.\n\nUser:");
    assertThat(m.stopped()).isTrue();
    assertThat(new StopStringMatcher(List.of("world", "wor"), true).accept("hello world!"))
        .as("the longest stop string found where the text stops")
        .isEqualTo("hello world");
  }

  @Test
  void unmatchedHeldTextIsReleasedAtTheEnd() {
    StopStringMatcher m = new StopStringMatcher(List.of("STOP"));
    assertThat(m.accept("nearly ST")).isEqualTo("nearly ");
    assertThat(m.flush()).isEqualTo("ST");
  }

  @Test
  void emptyStopStringsAreRejected() {
    assertThatThrownBy(() -> new StopStringMatcher(List.of("")))
        .hasMessageContaining("stop strings must not be empty");
  }
}
