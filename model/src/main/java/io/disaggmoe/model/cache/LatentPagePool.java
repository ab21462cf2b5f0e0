package io.disaggmoe.model.cache;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.List;

/**
 * The latent-cache pages of one instance: each page holds {@code pageTokens} positions of every
 * layer ({@code [layers, pageTokens, latentDim]} float32, row-major), and at most {@code maxPages}
 * are out at once.
 *
 * <p>Pages are Java arrays, not tensors: decode attention reads them in place with the Vector API
 * (a tensor's memory can only be read from Java by copying it, which is what concatenating a
 * sequence's pages in every layer at every step cost), and prefill copies what it attends over into
 * one tensor once per layer.
 *
 * <p>Pages given back are kept and handed out again, zeroed, as a block pool keeps its blocks: a
 * page allocated once stays in the old generation where the collector promoted it, so a sequence
 * that starts needs no new memory. Allocated new for every sequence, each page was copied out of
 * the young generation into old-generation memory touched for the first time, in pauses of up to a
 * second on a VM whose host backs memory lazily (the decode log's twenty-sixth session). The pool
 * therefore holds as many pages as were ever out at once, up to {@code maxPages}.
 */
public final class LatentPagePool implements AutoCloseable {
  private final int layers;
  private final int latentDim;
  private final int pageTokens;
  private final int maxPages;
  private int used;
  private final ArrayDeque<float[]> free = new ArrayDeque<>();
  private boolean closed;

  public LatentPagePool(int layers, int latentDim, int pageTokens, int maxPages) {
    if (pageTokens < 1 || maxPages < 1) {
      throw new IllegalArgumentException(
          "a page pool needs >= 1 token per page and >= 1 page, got "
              + pageTokens
              + " and "
              + maxPages);
    }
    this.layers = layers;
    this.latentDim = latentDim;
    this.pageTokens = pageTokens;
    this.maxPages = maxPages;
  }

  /** A pool whose pages add up to at most {@code budgetBytes}. */
  public static LatentPagePool withBudget(
      int layers, int latentDim, int pageTokens, long budgetBytes) {
    long pageBytes = pageBytes(layers, pageTokens, latentDim);
    long pages = budgetBytes / pageBytes;
    if (pages < 1) {
      throw new IllegalArgumentException(
          "a KV budget of "
              + budgetBytes
              + " bytes holds no page of "
              + pageTokens
              + " tokens ("
              + pageBytes
              + " bytes)");
    }
    return new LatentPagePool(
        layers, latentDim, pageTokens, (int) Math.min(Integer.MAX_VALUE, pages));
  }

  public int pageTokens() {
    return pageTokens;
  }

  public int layers() {
    return layers;
  }

  public int latentDim() {
    return latentDim;
  }

  public long pageBytes() {
    return pageBytes(layers, pageTokens, latentDim);
  }

  private static long pageBytes(int layers, int pageTokens, int latentDim) {
    return 4L * layers * pageTokens * latentDim;
  }

  public int maxPages() {
    return maxPages;
  }

  /** Pages out now, held by open caches. */
  public synchronized int usedPages() {
    return used;
  }

  /** Pages that {@code tokens} positions take. */
  public int pagesFor(long tokens) {
    return (int) Math.min(Integer.MAX_VALUE, (tokens + pageTokens - 1) / pageTokens);
  }

  /** Pages in memory: out now, plus those given back and kept for the next caches. */
  public synchronized int heldPages() {
    return used + free.size();
  }

  /** A zeroed page: the last one given back (the likeliest still in cache), else a new one. */
  float[] take() {
    float[] page;
    synchronized (this) {
      if (used == maxPages) {
        throw new LatentPagesExhaustedException(
            "all " + maxPages + " latent-cache pages of " + pageTokens + " tokens are in use");
      }
      used++;
      page = free.pollLast();
    }
    if (page == null) {
      return new float[layers * pageTokens * latentDim];
    }
    // Zeroed as a new page is: one sequence's rows must never reach another, even through a fault.
    Arrays.fill(page, 0f);
    return page;
  }

  /**
   * Takes back a closed cache's pages, which nothing may read or write any more: they go to the
   * next caches.
   */
  synchronized void give(List<float[]> pages) {
    used -= pages.size();
    if (!closed) {
      free.addAll(pages);
    }
  }

  /** Drops the kept pages (Java arrays: nothing native to free). */
  @Override
  public synchronized void close() {
    closed = true;
    free.clear();
  }
}
