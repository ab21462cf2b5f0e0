package io.disaggmoe.model.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.ComputeThread;
import java.util.ArrayList;
import java.util.List;

/**
 * A sequence's latent cache as a page table: position {@code p} lives in page {@code p /
 * pageTokens} of its pool. Pages are taken as the sequence grows and all given back on close, so a
 * finished sequence frees exactly its memory and no sequence ever copies its history to grow.
 */
public final class PagedLatentCache implements LatentCache {
  private final LatentPagePool pool;
  private final int pageTokens;
  private final List<NDArray> pages = new ArrayList<>();
  private int length;
  private boolean closed;

  public PagedLatentCache(LatentPagePool pool) {
    this.pool = pool;
    this.pageTokens = pool.pageTokens();
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
  public void write(int layer, int position, NDArray latent) {
    int n = (int) latent.getShape().get(0);
    ensurePages(position + n);
    forEachSpan(
        position,
        n,
        (page, offset, done, count) ->
            page.set(
                new NDIndex("{}, {}:{}", layer, offset, offset + count),
                count == n ? latent : latent.get(new NDIndex("{}:{}", done, done + count))));
  }

  @Override
  public NDArray read(int layer, int end) {
    if (end <= pageTokens) {
      return pages.get(0).get(new NDIndex("{}, :{}", layer, end));
    }
    NDList parts = new NDList();
    forEachSpan(
        0,
        end,
        (page, offset, done, count) -> parts.add(page.get(new NDIndex("{}, :{}", layer, count))));
    return NDArrays.concat(parts, 0);
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
    int dim = pool.latentDim();
    int n = to - from;
    float[] out = new float[layers * n * dim];
    // Indexing leaves intermediates on the page's manager; the scope closes them.
    try (NDScope scope = new NDScope()) {
      forEachSpan(
          from,
          n,
          (page, offset, done, count) -> {
            float[] part = page.get(new NDIndex(":, {}:{}", offset, offset + count)).toFloatArray();
            for (int l = 0; l < layers; l++) {
              System.arraycopy(part, l * count * dim, out, (l * n + done) * dim, count * dim);
            }
          });
    }
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
    int dim = pool.latentDim();
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
    ensurePages(position + n);
    try (NDScope scope = new NDScope()) {
      NDArray rows = pool.manager().create(block, new Shape(layers, n, dim));
      forEachSpan(
          position,
          n,
          (page, offset, done, count) ->
              page.set(
                  new NDIndex(":, {}:{}", offset, offset + count),
                  rows.get(new NDIndex(":, {}:{}", done, done + count))));
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
    void at(NDArray page, int offset, int done, int count);
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
    pages.forEach(pool::give);
    pages.clear();
  }
}
