package io.disaggmoe.model.layer;

import io.disaggmoe.model.cache.LatentCache;

/**
 * One sequence's share of a packed batch: {@code count} consecutive rows starting at {@code row},
 * holding positions {@code start .. start+count-1} of the sequence whose cache is {@code cache}.
 */
public record SequenceSlice(LatentCache cache, int row, int start, int count) {
  public int end() {
    return start + count;
  }
}
