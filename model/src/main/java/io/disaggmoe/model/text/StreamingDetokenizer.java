package io.disaggmoe.model.text;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Turns one request's tokens into text as they arrive, emitting only whole characters.
 *
 * <p>A byte-level token may hold part of a UTF-8 character (an emoji or a rare CJK character often
 * spans two or three tokens), so the token's bytes are kept until they complete a character. Bytes
 * that can never form one become U+FFFD as soon as that is certain, and {@link #finish} flushes an
 * unfinished tail the same way, so the concatenated output equals {@link TextTokenizer#decode} of
 * all the tokens.
 */
public final class StreamingDetokenizer {
  private final TextTokenizer tokenizer;
  private final boolean skipSpecialTokens;
  private final CharsetDecoder utf8 =
      StandardCharsets.UTF_8
          .newDecoder()
          .onMalformedInput(CodingErrorAction.REPLACE)
          .onUnmappableCharacter(CodingErrorAction.REPLACE);
  private ByteBuffer pending = ByteBuffer.allocate(16);

  public StreamingDetokenizer(TextTokenizer tokenizer, boolean skipSpecialTokens) {
    if (!tokenizer.isByteLevel()) {
      throw new IllegalArgumentException(
          "streaming detokenization needs a byte-level tokenizer (decoder type ByteLevel)");
    }
    this.tokenizer = tokenizer;
    this.skipSpecialTokens = skipSpecialTokens;
  }

  /** Adds one token and returns the text it completes, possibly empty. */
  public String next(int tokenId) {
    if (skipSpecialTokens && tokenizer.isSpecial(tokenId)) {
      return "";
    }
    byte[] bytes = tokenizer.tokenBytes(tokenId);
    if (pending.remaining() < bytes.length) {
      ByteBuffer grown = ByteBuffer.allocate(2 * (pending.position() + bytes.length));
      pending.flip();
      grown.put(pending);
      pending = grown;
    }
    pending.put(bytes);
    return decode(false);
  }

  /** Ends the stream: bytes still waiting for the rest of a character become U+FFFD. */
  public String finish() {
    String tail = decode(true);
    utf8.reset();
    return tail;
  }

  private String decode(boolean endOfInput) {
    pending.flip();
    // One byte never yields more than one char, so this cannot overflow.
    CharBuffer out = CharBuffer.allocate(pending.remaining() + 1);
    utf8.decode(pending, out, endOfInput);
    if (endOfInput) {
      utf8.flush(out);
    }
    pending.compact();
    return out.flip().toString();
  }
}
