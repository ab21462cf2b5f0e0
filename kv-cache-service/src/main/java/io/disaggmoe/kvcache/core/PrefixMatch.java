package io.disaggmoe.kvcache.core;

import java.util.List;

/**
 * The chain hash of every full block of some tokens, and how many leading ones are stored.
 *
 * @param hashes one per full block, stored or not
 * @param matchedBlocks leading blocks that are stored
 */
public record PrefixMatch(int blockTokens, List<byte[]> hashes, int matchedBlocks) {
  public int matchedTokens() {
    return matchedBlocks * blockTokens;
  }
}
