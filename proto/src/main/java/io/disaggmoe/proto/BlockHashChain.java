package io.disaggmoe.proto;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.List;

/**
 * Names full latent-cache blocks by content: block i's hash is SHA-256 over (model id, tenant salt,
 * block i-1's hash, block i's token ids). Equal prefixes under the same model and tenant give equal
 * names, so any request can reuse them; a different tenant salt never does.
 */
public final class BlockHashChain {
  private BlockHashChain() {}

  /** The hash of each full block of {@code tokens} ({@code tokens.length / blockTokens} hashes). */
  public static List<byte[]> hashes(String modelId, String tenant, int[] tokens, int blockTokens) {
    return extend(modelId, tenant, new byte[0], tokens, 0, tokens.length, blockTokens);
  }

  /**
   * The hashes of the full blocks of {@code tokens[from .. to)}, chained on {@code parent}: the
   * hash of the block ending at {@code from} (empty when {@code from} is 0). Extending a chain
   * costs only its new blocks, not the whole history again.
   */
  public static List<byte[]> extend(
      String modelId,
      String tenant,
      byte[] parent,
      int[] tokens,
      int from,
      int to,
      int blockTokens) {
    if (blockTokens < 1) {
      throw new IllegalArgumentException("block_tokens must be at least 1, got " + blockTokens);
    }
    if (from % blockTokens != 0 || (from == 0) != (parent.length == 0)) {
      throw new IllegalArgumentException(
          "a chain extends from a block boundary with its parent hash (from "
              + from
              + ", parent of "
              + parent.length
              + " bytes)");
    }
    byte[] model = modelId.getBytes(StandardCharsets.UTF_8);
    byte[] salt = tenant.getBytes(StandardCharsets.UTF_8);
    List<byte[]> out = new ArrayList<>(Math.max(0, to - from) / blockTokens);
    ByteBuffer ids = ByteBuffer.allocate(4 * blockTokens);
    for (int start = from; start + blockTokens <= to; start += blockTokens) {
      MessageDigest sha = sha256();
      // Length-prefixed fields: ("ab", "c") and ("a", "bc") must not collide.
      sha.update(ByteBuffer.allocate(4).putInt(model.length).array());
      sha.update(model);
      sha.update(ByteBuffer.allocate(4).putInt(salt.length).array());
      sha.update(salt);
      sha.update(ByteBuffer.allocate(4).putInt(parent.length).array());
      sha.update(parent);
      ids.clear();
      for (int i = 0; i < blockTokens; i++) {
        ids.putInt(tokens[start + i]);
      }
      sha.update(ids.array());
      parent = sha.digest();
      out.add(parent);
    }
    return out;
  }

  private static MessageDigest sha256() {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }
}
