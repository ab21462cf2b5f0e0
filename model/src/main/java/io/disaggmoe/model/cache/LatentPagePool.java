package io.disaggmoe.model.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * The latent-cache pages of one instance: each page holds {@code pageTokens} positions of every
 * layer ({@code [layers, pageTokens, latentDim]} float32), and at most {@code maxPages} are out at
 * once. A page is native memory from the moment it is taken until it is given back.
 */
public final class LatentPagePool implements AutoCloseable {
  private final NDManager manager;
  private final int layers;
  private final int latentDim;
  private final int pageTokens;
  private final int maxPages;
  private int used;

  public LatentPagePool(NDManager parent, int layers, int latentDim, int pageTokens, int maxPages) {
    if (pageTokens < 1 || maxPages < 1) {
      throw new IllegalArgumentException(
          "a page pool needs >= 1 token per page and >= 1 page, got "
              + pageTokens
              + " and "
              + maxPages);
    }
    this.manager = parent.newSubManager();
    this.layers = layers;
    this.latentDim = latentDim;
    this.pageTokens = pageTokens;
    this.maxPages = maxPages;
  }

  /** A pool whose pages add up to at most {@code budgetBytes}. */
  public static LatentPagePool withBudget(
      NDManager parent, int layers, int latentDim, int pageTokens, long budgetBytes) {
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
        parent, layers, latentDim, pageTokens, (int) Math.min(Integer.MAX_VALUE, pages));
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

  synchronized NDArray take() {
    if (used == maxPages) {
      throw new LatentPagesExhaustedException(
          "all " + maxPages + " latent-cache pages of " + pageTokens + " tokens are in use");
    }
    NDArray page = manager.create(new Shape(layers, pageTokens, latentDim), DataType.FLOAT32);
    // A page outlives the forward step that happens to take it.
    NDScope.unregister(page);
    used++;
    return page;
  }

  synchronized void give(NDArray page) {
    page.close();
    used--;
  }

  /** Where a block being copied in is created, inside the copier's NDScope. */
  NDManager manager() {
    return manager;
  }

  @Override
  public void close() {
    manager.close();
  }
}
