package io.disaggmoe.attention.client;

import io.disaggmoe.proto.v1.BlockHeader;

/**
 * What this model's blocks look like on kv-cache-service at {@code target}: headers for the blocks
 * a client puts, and the check of those it gets back, the same on every channel.
 */
record BlockShape(String target, String modelId, int layers, int width, KvDtype dtype) {

  /** The header of a block of {@code tokens} put as {@link #dtype}. */
  BlockHeader header(int tokens, int checksum) {
    return BlockHeader.newBuilder()
        .setModelId(modelId)
        .setDtype(dtype.safetensorsName())
        .setTokens(tokens)
        .setLayers(layers)
        .setWidth(width)
        .setTotalBytes(bytes(tokens))
        .setChecksum(checksum)
        .build();
  }

  /** Bytes of a block of {@code tokens} put as {@link #dtype}. */
  int bytes(int tokens) {
    return Math.toIntExact((long) tokens * layers * width * dtype.bytesPerValue());
  }

  /**
   * The dtype of a block the service returned, once its shape and length are this model's.
   *
   * @throws IllegalStateException naming what differs
   */
  KvDtype check(BlockHeader h) {
    KvDtype got = KvDtype.ofHeader(h.getDtype());
    if (got == null || h.getLayers() != layers || h.getWidth() != width) {
      throw new IllegalStateException(
          target
              + " returned a block of "
              + h.getLayers()
              + " layers x "
              + h.getWidth()
              + " "
              + h.getDtype()
              + "; this model needs "
              + layers
              + " x "
              + width
              + " F32 or BF16");
    }
    long values = (long) h.getTokens() * layers * width;
    if (h.getTokens() < 1 || values * got.bytesPerValue() != h.getTotalBytes()) {
      throw new IllegalStateException(
          target + " returned a block whose total_bytes disagrees with its shape");
    }
    return got;
  }
}
