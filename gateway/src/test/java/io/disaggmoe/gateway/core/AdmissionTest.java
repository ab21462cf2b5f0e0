package io.disaggmoe.gateway.core;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import org.junit.jupiter.api.Test;

class AdmissionTest {
  final GatewayMetrics metrics = new GatewayMetrics(new SimpleMeterRegistry(), "m", () -> 0);

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
