package io.disaggmoe.kvcache.core;

import java.nio.charset.StandardCharsets;
import java.util.HexFormat;

/**
 * The name a block is stored under: a full block's chain hash, or the request id of a partial tail
 * block. {@link #fileName} is safe on any file system.
 */
public record BlockName(String value) {
  private static final HexFormat HEX = HexFormat.of();

  public static BlockName hash(byte[] chainHash) {
    if (chainHash.length == 0) {
      throw new IllegalArgumentException("a block hash is empty");
    }
    return new BlockName("h" + HEX.formatHex(chainHash));
  }

  public static BlockName tail(String requestId) {
    if (requestId.isEmpty()) {
      throw new IllegalArgumentException("a tail block needs a request id");
    }
    return new BlockName("t" + HEX.formatHex(requestId.getBytes(StandardCharsets.UTF_8)));
  }

  /** Parses a {@link #fileName} back (without its extension); null if it is not one. */
  static BlockName parse(String s) {
    if (s.length() < 2 || (s.charAt(0) != 'h' && s.charAt(0) != 't')) {
      return null;
    }
    try {
      HEX.parseHex(s, 1, s.length());
    } catch (IllegalArgumentException e) {
      return null;
    }
    return new BlockName(s);
  }

  public boolean isTail() {
    return value.charAt(0) == 't';
  }

  public String fileName() {
    return value;
  }

  @Override
  public String toString() {
    if (isTail()) {
      return "tail of request "
          + new String(HEX.parseHex(value, 1, value.length()), StandardCharsets.UTF_8);
    }
    return "block " + value.substring(1, Math.min(value.length(), 17));
  }
}
