package io.disaggmoe.model;

import io.opentelemetry.context.Context;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

/**
 * A thread that runs all the native tensor work of what owns it: loading weights, forward passes,
 * experts, cache copies. Callers on any other thread hand their work over and wait.
 *
 * <p>Why: PyTorch's CPU kernels run on OpenMP, and libgomp keeps a team of worker threads for every
 * thread that has ever started a parallel region. Once those workers outnumber the cores, libgomp
 * stops letting idle workers spin and puts them to sleep after every region. A decode step is
 * hundreds of small regions, so a forward on a second thread (a serving loop) after the weights
 * were loaded on the main one ran 1.6x slower on 2 cores. Models share {@link #shared()}; an expert
 * pool has its own, because a model may wait on a pool in the same process (tests) and must not
 * wait on its own thread.
 */
public final class ComputeThread implements AutoCloseable {
  private static final ComputeThread SHARED = new ComputeThread("disaggmoe-compute");

  private final AtomicReference<Thread> thread = new AtomicReference<>();
  private final ExecutorService executor;

  public ComputeThread(String name) {
    // Work runs under its caller's trace context, so that calls it makes (expert dispatches)
    // belong to the request that asked for it.
    this.executor =
        Context.taskWrapping(
            Executors.newSingleThreadExecutor(
                r -> {
                  Thread t = Thread.ofPlatform().name(name).daemon().unstarted(r);
                  thread.set(t);
                  return t;
                }));
  }

  /** The thread every model of this process computes on. */
  public static ComputeThread shared() {
    return SHARED;
  }

  /** Runs {@code work} on this thread (at once when already on it) and returns its result. */
  public <T> T call(Supplier<T> work) {
    if (Thread.currentThread() == thread.get()) {
      return work.get();
    }
    try {
      return CompletableFuture.supplyAsync(work, executor).get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting for " + thread.get(), e);
    } catch (ExecutionException e) {
      Throwable cause = e.getCause();
      if (cause instanceof RuntimeException r) {
        throw r;
      }
      if (cause instanceof Error err) {
        throw err;
      }
      throw new IllegalStateException(cause);
    }
  }

  /** Queues {@code work} to run on this thread and returns at once. */
  public void execute(Runnable work) {
    executor.execute(work);
  }

  public void run(Runnable work) {
    call(
        () -> {
          work.run();
          return null;
        });
  }

  /** Ends the thread once queued work is done; {@link #shared()} lives as long as the process. */
  @Override
  public void close() {
    if (this != SHARED) {
      executor.shutdown();
    }
  }
}
