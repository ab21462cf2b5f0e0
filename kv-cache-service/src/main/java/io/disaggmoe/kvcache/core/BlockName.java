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
    return tail("", requestId);
  }

  /**
   * The tail of {@code tenant}'s request {@code requestId}: another tenant's request of the same id
   * has another name.
   */
  public static BlockName tail(String tenant, String requestId) {
    if (requestId.isEmpty()) {
      throw new IllegalArgumentException("a tail block needs a request id");
    }
    // The tenant's length first: no two pairs make the same name.
    byte[] t = tenant.getBytes(StandardCharsets.UTF_8);
    String name = t.length + ":" + tenant + requestId;
    return new BlockName("t" + HEX.formatHex(name.getBytes(StandardCharsets.UTF_8)));
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
      byte[] name = HEX.parseHex(value, 1, value.length());
      String s = new String(name, StandardCharsets.UTF_8);
      int colon = s.indexOf(':');
      try {
        int tenantBytes = Integer.parseInt(s.substring(0, colon));
        int start = colon + 1;
        String tenant = new String(name, start, tenantBytes, StandardCharsets.UTF_8);
        String request =
            new String(
                name,
                start + tenantBytes,
                name.length - start - tenantBytes,
                StandardCharsets.UTF_8);
        return "tail of request " + request + (tenant.isEmpty() ? "" : " of tenant " + tenant);
      } catch (RuntimeException e) {
        return "tail " + s;
      }
    }
    return "block " + value.substring(1, Math.min(value.length(), 17));
  }
}
