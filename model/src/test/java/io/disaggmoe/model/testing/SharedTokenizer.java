package io.disaggmoe.model.testing;

import io.disaggmoe.model.text.TextTokenizer;
import io.disaggmoe.model.text.TokenizerFiles;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** The shipped DeepSeek-V3 tokenizer, loaded once per test JVM (loading takes about 0.4 s). */
public final class SharedTokenizer {
  private static TextTokenizer tokenizer;

  private SharedTokenizer() {}

  public static synchronized TextTokenizer deepSeekV3() {
    if (tokenizer == null) {
      try {
        Path dir = Files.createTempDirectory("deepseek-v3-tokenizer");
        TokenizerFiles.copyDeepSeekV3(dir);
        tokenizer = TextTokenizer.load(dir);
        try (var files = Files.list(dir)) {
          for (Path f : files.toList()) {
            Files.delete(f);
          }
        }
        Files.delete(dir);
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return tokenizer;
  }
}
