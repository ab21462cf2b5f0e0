package io.disaggmoe.gateway.http;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class StartedChoicesTest {
  @Test
  void aChoiceStartedAfterTheReplyEndedIsCancelledAtOnce() {
    StartedChoices started = new StartedChoices();
    AtomicInteger cancelled = new AtomicInteger();
    started.add(cancelled::incrementAndGet);
    started.add(cancelled::incrementAndGet);
    assertThat(cancelled).as("nothing cancelled while the reply runs").hasValue(0);
    started.cancelAll();
    assertThat(cancelled).as("both started before").hasValue(2);
    started.add(cancelled::incrementAndGet);
    assertThat(cancelled).as("one started after the reply ended").hasValue(3);
  }
}
