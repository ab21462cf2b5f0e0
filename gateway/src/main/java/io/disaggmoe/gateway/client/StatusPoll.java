package io.disaggmoe.gateway.client;

import io.grpc.stub.StreamObserver;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Asks a stage for its status at a fixed period and keeps the last answer, so that routing and
 * health read it without a call; a stage that stops answering is marked so until it answers again.
 */
final class StatusPoll<T> implements AutoCloseable {
  private final ScheduledFuture<?> task;
  private volatile T latest;
  private volatile boolean answering;

  /** {@code call} issues one status call and reports to the observer it is given. */
  StatusPoll(
      ScheduledExecutorService scheduler,
      long periodMillis,
      T initial,
      Consumer<StreamObserver<T>> call) {
    this.latest = initial;
    this.task =
        scheduler.scheduleWithFixedDelay(
            () ->
                call.accept(
                    new StreamObserver<>() {
                      @Override
                      public void onNext(T value) {
                        latest = value;
                        answering = true;
                      }

                      @Override
                      public void onError(Throwable t) {
                        answering = false;
                      }

                      @Override
                      public void onCompleted() {}
                    }),
            0,
            periodMillis,
            TimeUnit.MILLISECONDS);
  }

  T latest() {
    return latest;
  }

  boolean answering() {
    return answering;
  }

  @Override
  public void close() {
    task.cancel(false);
  }
}
