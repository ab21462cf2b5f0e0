package io.disaggmoe.expert.core;

import java.nio.FloatBuffer;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One accepted dispatch while its expert passes are made: its own copy of the hidden rows, the
 * expert output of each of this pool's slots as passes fill them in, and the future of their
 * weighted rows. The memory it holds is taken from the pool's {@link QueuedBytes} and given back
 * before its result is set, so that whoever sees the result can queue another dispatch in that
 * room.
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
  private final CompletableFuture<SlotOutputs> result = new CompletableFuture<>();
  private final QueuedBytes queued;
  private final long bytes;
  private final AtomicBoolean released = new AtomicBoolean();
  private int remaining;

  /**
   * Copies the {@code [tokens, dim]} rows of {@code hidden} (read from index 0) only when a slot is
   * this pool's; otherwise the dispatch is complete at once, with no rows. Throws {@link
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
      result.complete(SlotOutputs.none());
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

  CompletableFuture<SlotOutputs> result() {
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
      result.complete(new SlotOutputs(outputs.length, this::writeWeighted));
    }
  }

  void fail(RuntimeException e) {
    if (!result.isDone()) {
      release();
      result.completeExceptionally(e);
    }
  }

  /** Each held slot's weight times its expert output, in slot order. */
  private void writeWeighted(FloatBuffer out) {
    for (int s = 0; s < expertIds.length; s++) {
      int row = outputRow[s];
      if (row < 0) {
        continue;
      }
      float w = weights[s];
      for (int c = row * dim; c < (row + 1) * dim; c++) {
        out.put(c, outputs[c] * w);
      }
    }
  }
}
