package io.disaggmoe.attention.client;

import java.time.Duration;
import java.util.List;

/** What an attention instance needs of kv-cache-service, for one model. */
public interface KvCacheClient extends AutoCloseable {
  /**
   * The chain hash of every full block of {@code tokens} under {@code tenant}, and how many leading
   * ones are stored.
   */
  Prefix match(String tenant, int[] tokens);

  /** Tokens per full block, as the service is configured. */
  int blockTokens();

  /** The chain hash of every full block of {@code tokens} under {@code tenant}, computed here. */
  default List<byte[]> blockHashes(String tenant, int[] tokens) {
    return blockHashes(tenant, new byte[0], tokens, 0, tokens.length);
  }

  /**
   * The chain hashes of the full blocks of {@code tokens[from .. to)} under {@code tenant}, chained
   * on {@code parent}, the hash of the block that ends at {@code from} (empty at 0).
   */
  List<byte[]> blockHashes(String tenant, byte[] parent, int[] tokens, int from, int to);

  record Prefix(int blockTokens, List<byte[]> hashes, int matchedBlocks) {}

  /** The blocks named by {@code hashes}, in order, up to the first that is not stored. */
  List<LatentBlock> getLeading(List<byte[]> hashes);

  /**
   * The tail block of {@code tenant}'s request {@code requestId}, or null. Tails are kept per
   * tenant: another tenant's request of the same id has another tail.
   */
  LatentBlock getTail(String tenant, String requestId);

  /** Stores full blocks under their hashes. */
  void putBlocks(List<byte[]> hashes, List<LatentBlock> blocks);

  void putTail(String tenant, String requestId, LatentBlock tail);

  /** Keeps the blocks (and the request's tail) from eviction until unpin or {@code ttl}. */
  void pin(String tenant, String requestId, List<byte[]> hashes, Duration ttl);

  void unpin(String requestId);

  void deleteTail(String tenant, String requestId);

  @Override
  void close();
}
