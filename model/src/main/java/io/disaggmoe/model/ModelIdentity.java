package io.disaggmoe.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The model id that names a checkpoint's latent cache blocks: the directory name and a digest of
 * its {@code config.json}, so that two different models in directories of the same name never share
 * blocks.
 */
public final class ModelIdentity {
  private ModelIdentity() {}

  public static String of(Path dir) {
    Path config = dir.resolve("config.json");
    try {
      byte[] digest = MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(config));
      String name = dir.toAbsolutePath().normalize().getFileName().toString();
      return name + "@" + HexFormat.of().formatHex(digest, 0, 6);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + config, e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }
}
