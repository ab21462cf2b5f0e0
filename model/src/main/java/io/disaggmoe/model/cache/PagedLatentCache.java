package io.disaggmoe.model.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.ComputeThread;
import java.util.ArrayList;
import java.util.List;

/**
 * A sequence's latent cache as a page table: position {@code p} lives in page {@code p /
 * pageTokens} of its pool. Pages are taken as the sequence grows and all given back on close, so a
 * finished sequence frees exactly its memory and no sequence ever copies its history to grow. Close
 * only after the last step that reads or writes the cache: its pages go to other sequences.
 */
public final class PagedLatentCache implements LatentCache {
  private final LatentPagePool pool;
  private final int pageTokens;
  private final int dim;
  private final List<float[]> pages = new ArrayList<>();
  private int length;
  private boolean closed;

  public PagedLatentCache(LatentPagePool pool) {
    this.pool = pool;
    this.pageTokens = pool.pageTokens();
    this.dim = pool.latentDim();
  }

  @Override
  public int length() {
    return length;
  }

  /** Pages this cache holds now. */
  public int pages() {
    return pages.size();
  }

  @Override
  public void write(int layer, int position, float[] rows, int from, int n) {
    ensurePages(position + n);
    forEachSpan(
        position,
        n,
        (page, offset, done, count) ->
            System.arraycopy(rows, (from + done) * dim, page, at(layer, offset), count * dim));
  }

  @Override
  public NDArray read(int layer, int end, NDManager manager) {
    float[] out = new float[end * dim];
    forEachRun(
        layer,
        end,
        (data, offset, first, count) ->
            System.arraycopy(data, offset, out, first * dim, count * dim));
    return manager.create(out, new Shape(end, dim));
  }

  @Override
  public void forEachRun(int layer, int from, int end, Run run) {
    forEachSpan(
        from,
        end - from,
        (page, offset, done, count) -> run.at(page, at(layer, offset), from + done, count));
  }

  /** Where position {@code offset} of a page starts in {@code layer}. */
  private int at(int layer, int offset) {
    return (layer * pageTokens + offset) * dim;
  }

  /**
   * Positions {@code from .. to-1} of every layer as one block, {@code [layers, to-from,
   * latentDim]} row-major: the layout kv-cache-service stores.
   */
  public float[] exportRows(int from, int to) {
    return ComputeThread.shared().call(() -> exportHere(from, to));
  }

  private float[] exportHere(int from, int to) {
    if (from < 0 || to > length || from > to) {
      throw new IllegalArgumentException(
          "rows " + from + ".." + to + " are outside the committed length " + length);
    }
    int layers = pool.layers();
    int n = to - from;
    float[] out = new float[layers * n * dim];
    forEachSpan(
        from,
        n,
        (page, offset, done, count) -> {
          for (int l = 0; l < layers; l++) {
            System.arraycopy(page, at(l, offset), out, (l * n + done) * dim, count * dim);
          }
        });
    return out;
  }

  /**
   * Appends a block from {@link #exportRows} ({@code n} positions) to every layer and commits it.
   */
  public void appendRows(float[] block, int n) {
    ComputeThread.shared().run(() -> appendHere(block, n));
  }

  private void appendHere(float[] block, int n) {
    int layers = pool.layers();
    if (block.length != layers * n * dim) {
      throw new IllegalArgumentException(
          "a block of "
              + n
              + " positions has "
              + layers * n * dim
              + " values ("
              + layers
              + " layers x "
              + dim
              + "), got "
              + block.length);
    }
    int position = length;
    for (int l = 0; l < layers; l++) {
      write(l, position, block, l * n, n);
    }
    length = position + n;
  }

  @Override
  public void commit(int newLength) {
    if (newLength < length || newLength > pages.size() * pageTokens) {
      throw new IllegalStateException(
          "cannot commit length "
              + newLength
              + " (length "
              + length
              + ", "
              + pages.size()
              + " pages of "
              + pageTokens
              + ")");
    }
    length = newLength;
  }

  /** The part of a run of positions that lies in one page. */
  private interface Span {
    void at(float[] page, int offset, int done, int count);
  }

  /**
   * Walks positions {@code position .. position+n-1} page by page: {@code offset} in the page,
   * {@code done} positions of the run before this span, {@code count} in it.
   */
  private void forEachSpan(int position, int n, Span span) {
    for (int done = 0; done < n; ) {
      int p = position + done;
      int offset = p % pageTokens;
      int count = Math.min(n - done, pageTokens - offset);
      span.at(pages.get(p / pageTokens), offset, done, count);
      done += count;
    }
  }

  private void ensurePages(int positions) {
    while (pages.size() * pageTokens < positions) {
      pages.add(pool.take());
    }
  }

  @Override
  public void close() {
    if (closed) {
      return;
    }
    closed = true;
    pool.give(pages);
    pages.clear();
  }
}
