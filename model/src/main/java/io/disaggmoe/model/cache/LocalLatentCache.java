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
