package io.disaggmoe.model.text;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The real DeepSeek-V3 tokenizer files, shipped inside this library (MIT, see the README beside
 * them), so generated checkpoints carry the tokenizer of the architecture they imitate.
 */
public final class TokenizerFiles {
  private static final String RESOURCE_DIR = "deepseek-v3/";
  private static final List<String> FILES =
      List.of(TextTokenizer.FILE_NAME, TokenizerSettings.FILE_NAME);

  private TokenizerFiles() {}

  /** Writes {@code tokenizer.json} and {@code tokenizer_config.json} of DeepSeek-V3 into dir. */
  public static void copyDeepSeekV3(Path dir) throws IOException {
    Files.createDirectories(dir);
    for (String name : FILES) {
      try (InputStream in = TokenizerFiles.class.getResourceAsStream(RESOURCE_DIR + name)) {
        if (in == null) {
          throw new IOException("resource " + RESOURCE_DIR + name + " is missing from the build");
        }
        Files.copy(in, dir.resolve(name), StandardCopyOption.REPLACE_EXISTING);
      }
    }
  }
}
