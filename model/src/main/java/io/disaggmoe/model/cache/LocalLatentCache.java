package io.disaggmoe.model.cache;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

/**
 * An in-process latent cache: one float32 buffer per layer, grown by doubling, in its own NDManager
 * so that closing the cache frees exactly its memory.
 */
public final class LocalLatentCache implements LatentCache {
  private final NDManager manager;
  private final NDArray[] layers;
  private final int latentDim;
  private int capacity;
  private int length;

  public LocalLatentCache(NDManager parent, int numLayers, int latentDim, int initialCapacity) {
    this.manager = parent.newSubManager();
    this.layers = new NDArray[numLayers];
    this.latentDim = latentDim;
    this.capacity = Math.max(1, initialCapacity);
    for (int l = 0; l < numLayers; l++) {
      layers[l] = allocate(capacity);
    }
  }

  @Override
  public int length() {
    return length;
  }

  @Override
  public void write(int layer, int position, NDArray latent) {
    int n = (int) latent.getShape().get(0);
    ensureCapacity(position + n);
    layers[layer].set(new NDIndex("{}:{}", position, position + n), latent);
  }

  @Override
  public NDArray read(int layer, int end) {
    return layers[layer].get(new NDIndex("0:{}", end));
  }

  /**
   * Positions {@code from .. to-1} of every layer as one block, {@code [layers, to-from,
   * latentDim]} row-major: the layout kv-cache-service stores.
   */
  public float[] exportRows(int from, int to) {
    if (from < 0 || to > length || from > to) {
      throw new IllegalArgumentException(
          "rows " + from + ".." + to + " are outside the committed length " + length);
    }
    int n = to - from;
    float[] out = new float[layers.length * n * latentDim];
    for (int l = 0; l < layers.length; l++) {
      try (NDArray rows = layers[l].get(new NDIndex("{}:{}", from, to))) {
        System.arraycopy(rows.toFloatArray(), 0, out, l * n * latentDim, n * latentDim);
      }
    }
    return out;
  }

  /**
   * Appends a block from {@link #exportRows} ({@code n} positions) to every layer and commits it.
   */
  public void appendRows(float[] block, int n) {
    if (block.length != layers.length * n * latentDim) {
      throw new IllegalArgumentException(
          "a block of "
              + n
              + " positions has "
              + layers.length * n * latentDim
              + " values ("
              + layers.length
              + " layers x "
              + latentDim
              + "), got "
              + block.length);
    }
    int position = length;
    ensureCapacity(position + n);
    for (int l = 0; l < layers.length; l++) {
      float[] part = new float[n * latentDim];
      System.arraycopy(block, l * n * latentDim, part, 0, part.length);
      try (NDArray rows = manager.create(part, new Shape(n, latentDim))) {
        layers[l].set(new NDIndex("{}:{}", position, position + n), rows);
      }
    }
    length = position + n;
  }

  @Override
  public void commit(int newLength) {
    if (newLength < length || newLength > capacity) {
      throw new IllegalStateException(
          "cannot commit length "
              + newLength
              + " (length "
              + length
              + ", capacity "
              + capacity
              + ")");
    }
    length = newLength;
  }

  private void ensureCapacity(int needed) {
    if (needed <= capacity) {
      return;
    }
    int grown = Math.max(needed, capacity * 2);
    for (int l = 0; l < layers.length; l++) {
      NDArray bigger = allocate(grown);
      if (length > 0) {
        try (NDArray used = layers[l].get(new NDIndex("0:{}", length))) {
          bigger.set(new NDIndex("0:{}", length), used);
        }
      }
      layers[l].close();
      layers[l] = bigger;
    }
    capacity = grown;
  }

  private NDArray allocate(int rows) {
    NDArray a = manager.zeros(new Shape(rows, latentDim), DataType.FLOAT32);
    // The buffer outlives any forward step that happens to grow it.
    NDScope.unregister(a);
    return a;
  }

  @Override
  public void close() {
    manager.close();
  }
}
