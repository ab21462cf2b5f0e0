package io.disaggmoe.expert.core;

import java.nio.FloatBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One accepted dispatch while its expert passes are made: its own copy of the hidden rows, the
 * expert output of each of this pool's slots as passes fill them in, and the future of its partial
 * sums. The memory it holds is taken from the pool's {@link QueuedBytes} and given back before its
 * result is set, so that whoever sees the result can queue another dispatch in that room.
 */
final class PendingDispatch {
  private final int layer;
  private final float[] hidden;
  private final int tokens;
  private final int dim;
  private final int k;
  private final int[] expertIds;
  private final float[] weights;

  /** Per slot, where its output row starts in {@link #outputs}; -1 for another pool's slot. */
  private final int[] outputRow;

  private final float[] outputs;
  private final CompletableFuture<PartialSums> result = new CompletableFuture<>();
  private final QueuedBytes queued;
  private final long bytes;
  private final AtomicBoolean released = new AtomicBoolean();
  private int remaining;

  /**
   * Copies the {@code [tokens, dim]} rows of {@code hidden} (read from index 0) only when a slot is
   * this pool's; otherwise the dispatch is complete at once, with zero sums. Throws {@link
   * ExpertPoolBusyException}, before allocating, when {@code queued} has no room for it.
   */
  PendingDispatch(
      int layer,
      FloatBuffer hidden,
      int tokens,
      int dim,
      int[] expertIds,
      float[] weights,
      int k,
      QueuedBytes queued) {
    this.layer = layer;
    this.tokens = tokens;
    this.dim = dim;
    this.k = k;
    this.expertIds = expertIds;
    this.weights = weights;
    this.outputRow = new int[expertIds.length];
    int held = 0;
    for (int s = 0; s < expertIds.length; s++) {
      outputRow[s] = expertIds[s] >= 0 ? held++ : -1;
    }
    this.queued = queued;
    this.bytes = held == 0 ? 0 : (tokens + (long) held) * dim * Float.BYTES;
    queued.reserve(bytes);
    try {
      this.outputs = new float[held * dim];
      this.hidden = new float[held == 0 ? 0 : tokens * dim];
      hidden.get(0, this.hidden);
    } catch (RuntimeException | OutOfMemoryError e) {
      queued.release(bytes);
      throw e;
    }
    this.remaining = held;
    if (held == 0) {
      result.complete(PartialSums.zeros(tokens * dim));
    }
    // A caller that cancels (its stream went away) gives the room back at once; the scheduler
    // skips a settled dispatch's slots.
    result.whenComplete(
        (r, e) -> {
          if (result.isCancelled()) {
            release();
          }
        });
  }

  /** Gives the dispatch's bytes back to the pool, once whatever settles it. */
  private void release() {
    if (released.compareAndSet(false, true)) {
      queued.release(bytes);
    }
  }

  int layer() {
    return layer;
  }

  int slots() {
    return expertIds.length;
  }

  /** The expert of slot {@code s} ({@code token * k + j}), or -1. */
  int expertOf(int s) {
    return expertIds[s];
  }

  CompletableFuture<PartialSums> result() {
    return result;
  }

  boolean settled() {
    return result.isDone();
  }

  /** Copies the hidden row of slot {@code s}'s token into {@code rows} at {@code offset}. */
  void copyRow(int s, float[] rows, int offset) {
    System.arraycopy(hidden, s / k * dim, rows, offset, dim);
  }

  /** Records slot {@code s}'s expert output; the last slot completes the dispatch. */
  void store(int s, float[] y, int offset) {
    System.arraycopy(y, offset, outputs, outputRow[s] * dim, dim);
    if (--remaining == 0) {
      release();
      result.complete(new PartialSums(tokens * dim, this::addSums));
    }
  }

  void fail(RuntimeException e) {
    if (!result.isDone()) {
      release();
      result.completeExceptionally(e);
    }
  }

  /**
   * Per token, adds the weighted outputs into {@code out} in ascending expert order (slot order
   * among equal ids), as the in-process executor adds them, whatever order the passes ran in.
   */
  private void addSums(FloatBuffer out) {
    int[] order = new int[k];
    for (int t = 0; t < tokens; t++) {
      int n = 0;
      for (int j = 0; j < k; j++) {
        int s = t * k + j;
        if (outputRow[s] < 0) {
          continue;
        }
        int i = n++;
        while (i > 0 && expertIds[order[i - 1]] > expertIds[s]) {
          order[i] = order[i - 1];
          i--;
        }
        order[i] = s;
      }
      for (int i = 0; i < n; i++) {
        int src = outputRow[order[i]] * dim;
        float w = weights[order[i]];
        int dst = t * dim;
        for (int c = 0; c < dim; c++) {
          out.put(dst + c, out.get(dst + c) + outputs[src + c] * w);
        }
      }
    }
  }
}
