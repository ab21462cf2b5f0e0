package io.disaggmoe.attention.core;

import io.disaggmoe.attention.client.KvCacheClient;
import io.disaggmoe.attention.client.LatentBlock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A prompt's latent cache handed from prefill to decode through kv-cache-service: what the prefill
 * role writes once its forward pass is done, and what the decode role reads when the request joins
 * its batch. {@code bench kv --handoff} times these two calls.
 */
public final class KvHandoff {
  private KvHandoff() {}

  /** Rows {@code [from, to)} of a prompt's cache as one block's data. */
  public interface Rows {
    float[] export(int from, int to);
  }

  /**
   * Writes the prompt's full blocks from {@code cachedBlocks} on (those before were already stored)
   * and its partial tail under {@code requestId}, then pins them all for decode.
   *
   * @param hashes the chain hashes of the prompt's full blocks
   */
  public static void publish(
      KvCacheClient kv,
      String tenant,
      String requestId,
      List<byte[]> hashes,
      int cachedBlocks,
      int promptLength,
      Rows rows,
      Duration pinTtl) {
    int b = kv.blockTokens();
    int full = hashes.size();
    List<LatentBlock> fresh = new ArrayList<>();
    for (int i = cachedBlocks; i < full; i++) {
      fresh.add(new LatentBlock(b, rows.export(i * b, (i + 1) * b)));
    }
    kv.putBlocks(hashes.subList(cachedBlocks, full), fresh);
    if (promptLength > full * b) {
      kv.putTail(
          tenant,
          requestId,
          new LatentBlock(promptLength - full * b, rows.export(full * b, promptLength)));
    }
    kv.pin(tenant, requestId, hashes, pinTtl);
  }

  /**
   * What the decode side holds: the leading full blocks found, and the prefill's tail when it
   * continues them (else null).
   */
  public record Held(List<LatentBlock> leading, LatentBlock tail) {
    /** The leading blocks, then the tail. */
    public List<LatentBlock> all() {
      if (tail == null) {
        return leading;
      }
      List<LatentBlock> all = new ArrayList<>(leading);
      all.add(tail);
      return all;
    }

    public int tokens() {
      return all().stream().mapToInt(LatentBlock::tokens).sum();
    }
  }

  /**
   * The stored blocks of a request's history in order: the leading full blocks found, then the
   * prefill's tail when it continues them up to exactly {@code cacheTokens}. Fewer tokens than
   * {@code cacheTokens} means the rest must be recomputed.
   */
  public static Held fetch(
      KvCacheClient kv, String tenant, String requestId, List<byte[]> hashes, int cacheTokens) {
    List<LatentBlock> leading = finitePrefix(kv.getLeading(hashes));
    int tokens = leading.stream().mapToInt(LatentBlock::tokens).sum();
    if (tokens < cacheTokens) {
      LatentBlock tail = kv.getTail(tenant, requestId);
      if (tail != null && tokens + tail.tokens() == cacheTokens && finite(tail)) {
        return new Held(leading, tail);
      }
    }
    return new Held(leading, null);
  }

  /**
   * The blocks up to the first one holding a value that is not finite: such a block is a miss (its
   * positions are computed again), never attention's input.
   */
  static List<LatentBlock> finitePrefix(List<LatentBlock> blocks) {
    for (int i = 0; i < blocks.size(); i++) {
      if (!finite(blocks.get(i))) {
        return blocks.subList(0, i);
      }
    }
    return blocks;
  }

  private static boolean finite(LatentBlock b) {
    // Branch-free, so that the JIT vectorizes it on the join path: an exponent of all ones (Inf or
    // NaN) turns (exponent + 1) >>> 8 into 1, any other exponent into 0.
    int notFinite = 0;
    for (float v : b.data()) {
      notFinite |= (((Float.floatToRawIntBits(v) >>> 23) & 0xff) + 1) >>> 8;
    }
    return notFinite == 0;
  }
}
