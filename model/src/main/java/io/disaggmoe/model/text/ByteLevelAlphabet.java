package io.disaggmoe.model.text;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's byte-level alphabet: every byte is written as one printable character in vocabulary
 * strings, and a token's bytes are recovered by reversing that map.
 *
 * <p>Decoding follows the HF {@code ByteLevel} decoder exactly: a token whose characters are all in
 * the alphabet becomes those bytes; any other token (an added token such as {@code <｜User｜>})
 * becomes its own UTF-8 bytes.
 */
final class ByteLevelAlphabet {
  /** Character code to byte value, or -1 for characters outside the alphabet. */
  private static final int[] CHAR_TO_BYTE = new int[324];

  static {
    java.util.Arrays.fill(CHAR_TO_BYTE, -1);
    int shifted = 0;
    for (int b = 0; b < 256; b++) {
      boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      int c = printable ? b : 256 + shifted++;
      CHAR_TO_BYTE[c] = b;
    }
  }

  private ByteLevelAlphabet() {}

  static byte[] tokenBytes(String token) {
    byte[] out = new byte[token.length()];
    for (int i = 0; i < token.length(); i++) {
      char c = token.charAt(i);
      int b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
      if (b < 0) {
        return token.getBytes(StandardCharsets.UTF_8);
      }
      out[i] = (byte) b;
    }
    return out;
  }
}
