package io.disaggmoe.model.text;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.testing.SharedTokenizer;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class StreamingDetokenizerTest {
  private static final TextTokenizer tokenizer = SharedTokenizer.deepSeekV3();

  @ParameterizedTest
  @ValueSource(
      strings = {
        "I love 🦀 and 🐍! 👍🏽 👨‍👩‍👧 ❤️",
        "你好，世界！今天天气怎么样？深度求索",
        "こんにちは世界 カタカナ 안녕하세요",
        // Rare characters the BPE has no merges for: each is two to four single-byte tokens.
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀𓁐 𠀋𠀍𪚥 ꙮ",
        "Café naïve résumé — “quotes” … ½ ©",
        "<｜User｜>mixed 🦀 tokens<｜Assistant｜>"
      })
  void streamingEqualsFullDecodeWhereverTheStreamIsSplit(String text) {
    int[] ids = tokenizer.encode(text, true);
    StreamingDetokenizer stream = new StreamingDetokenizer(tokenizer, true);
    StringBuilder out = new StringBuilder();
    for (int split = 1; split <= ids.length; split++) {
      String piece = stream.next(ids[split - 1]);
      assertWholeCharacters(piece, ids, split - 1);
      out.append(piece);
      String prefixDecode = tokenizer.decode(Arrays.copyOf(ids, split), true);
      assertThat(out.toString())
          .as("text streamed after %d of %d tokens", split, ids.length)
          .isEqualTo(prefixDecode.replaceFirst("\uFFFD+$", ""));

      StreamingDetokenizer endsHere = new StreamingDetokenizer(tokenizer, true);
      StringBuilder ended = new StringBuilder();
      for (int i = 0; i < split; i++) {
        ended.append(endsHere.next(ids[i]));
      }
      assertThat(ended.append(endsHere.finish()).toString())
          .as("stream ended after %d of %d tokens", split, ids.length)
          .isEqualTo(prefixDecode);
    }
    assertThat(out.append(stream.finish()).toString()).isEqualTo(tokenizer.decode(ids, true));
  }

  @Test
  void theTestTextsReallySplitCharactersAcrossTokens() {
    int[] ids = tokenizer.encode("𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𓀀𓁐 𠀋𠀍𪚥 🦀", false);
    long partial = Arrays.stream(ids).filter(id -> !isValidUtf8(tokenizer.tokenBytes(id))).count();
    assertThat(partial).as("tokens holding part of a UTF-8 character").isGreaterThan(4);
  }

  @Test
  void aTruncatedCharacterBecomesOneReplacementLikeTheFullDecode() {
    int[] crab = tokenizer.encode("🦀", false);
    assertThat(crab.length).as("🦀 spans several tokens").isGreaterThan(1);
    int[] broken = {crab[0], tokenizer.encode("A", false)[0]};
    StreamingDetokenizer stream = new StreamingDetokenizer(tokenizer, true);
    String streamed = stream.next(broken[0]) + stream.next(broken[1]) + stream.finish();
    assertThat(streamed).isEqualTo(tokenizer.decode(broken, true)).endsWith("A").contains("\uFFFD");

    StreamingDetokenizer cut = new StreamingDetokenizer(tokenizer, true);
    assertThat(cut.next(crab[0])).isEmpty();
    assertThat(cut.finish()).isEqualTo(tokenizer.decode(new int[] {crab[0]}, true));
  }

  @Test
  void specialTokensAreSkippedOnlyWhenAsked() {
    int eos = tokenizer.eosTokenId();
    assertThat(new StreamingDetokenizer(tokenizer, true).next(eos)).isEmpty();
    assertThat(new StreamingDetokenizer(tokenizer, false).next(eos))
        .isEqualTo("<｜end▁of▁sentence｜>");
  }

  private static void assertWholeCharacters(String piece, int[] ids, int at) {
    for (int c = 0; c < piece.length(); c++) {
      char ch = piece.charAt(c);
      boolean paired =
          Character.isHighSurrogate(ch)
              ? c + 1 < piece.length() && Character.isLowSurrogate(piece.charAt(++c))
              : !Character.isLowSurrogate(ch);
      assertThat(paired)
          .as("half a surrogate pair emitted at token %d (id %d)", at, ids[at])
          .isTrue();
    }
    assertThat(piece)
        .as("replacement character emitted at token %d (id %d)", at, ids[at])
        .doesNotContain("\uFFFD");
  }

  private static boolean isValidUtf8(byte[] bytes) {
    try {
      StandardCharsets.UTF_8.newDecoder().decode(ByteBuffer.wrap(bytes));
      return true;
    } catch (CharacterCodingException e) {
      return false;
    }
  }
}
