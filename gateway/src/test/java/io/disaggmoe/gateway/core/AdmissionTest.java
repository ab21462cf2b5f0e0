package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class AdmissionTest {
  final GatewayMetrics metrics = new GatewayMetrics(new SimpleMeterRegistry(), "m", 4096, () -> 0);

  @Test
  void aFullQueueRefusesAtOnceAndAReleasedSlotPassesToTheNextWaiter() throws Exception {
    Admission a = new Admission(1, 1, metrics);
    Admission.Slot first = a.acquire().get();
    CompletableFuture<Admission.Slot> second = a.acquire();
    assertThat(second).isNotDone();
    CompletableFuture<Admission.Slot> third = a.acquire();
    assertThat(third).isCompletedExceptionally();
    try {
      third.get();
    } catch (ExecutionException e) {
      ApiException refused = (ApiException) e.getCause();
      assertThat(refused.httpStatus()).isEqualTo(503);
      assertThat(refused.retryAfterSeconds()).isPositive();
    }
    assertThat(metrics.waiting().get()).isEqualTo(1);
    first.release();
    first.release(); // a second release gives nothing back
    assertThat(second).isCompleted();
    assertThat(a.running()).isEqualTo(1);
    second.get().release();
    assertThat(a.running()).isZero();
    assertThat(metrics.running().get()).isZero();
  }

  @Test
  void aRequestTakesAPlaceForEachSequenceAndTheQueueIsServedInOrder() throws Exception {
    Admission a = new Admission(4, 8, metrics);
    Admission.Slot three = a.acquire(3).get();
    CompletableFuture<Admission.Slot> two = a.acquire(2);
    CompletableFuture<Admission.Slot> one = a.acquire(1);
    assertThat(two).as("two sequences beside three of four").isNotDone();
    assertThat(one).as("one that would fit waits behind the two").isNotDone();
    assertThat(metrics.running().get()).isEqualTo(3);
    three.release();
    assertThat(two).isCompleted();
    assertThat(one).isCompleted();
    assertThat(a.running()).isEqualTo(3);
    assertThatThrownBy(() -> a.acquire(5).get())
        .cause()
        .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.httpStatus()).isEqualTo(400))
        .hasMessageContaining("asks for 5 sequences")
        .hasMessageContaining("at most 4");
    two.get().release();
    one.get().release();
    assertThat(a.running()).isZero();
  }

  @Test
  void smallRequestsBehindALargeOneThatGaveUpAreAdmitted() throws Exception {
    Admission a = new Admission(4, 8, metrics);
    Admission.Slot held = a.acquire(2).get();
    CompletableFuture<Admission.Slot> large = a.acquire(4);
    CompletableFuture<Admission.Slot> small = a.acquire(2);
    assertThat(small).isNotDone();
    large.cancel(true);
    assertThat(small).as("admitted once the large request left the head").isCompleted();
    assertThat(a.running()).isEqualTo(4);
    small.get().release();
    held.release();
    assertThat(a.running()).isZero();
    assertThat(metrics.waiting().get()).isZero();
  }

  @Test
  void aWaiterThatGaveUpNeitherHoldsAPlaceNorTakesTheSlot() throws Exception {
    Admission a = new Admission(1, 2, metrics);
    Admission.Slot first = a.acquire().get();
    CompletableFuture<Admission.Slot> gaveUp = a.acquire();
    CompletableFuture<Admission.Slot> patient = a.acquire();
    gaveUp.cancel(true);
    assertThat(metrics.waiting().get()).isEqualTo(1);
    first.release();
    assertThat(patient).isCompleted();
    patient.get().release();
    assertThat(a.running()).isZero();
  }
}
