package io.disaggmoe.model;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;

/**
 * The model id that names a checkpoint: the directory name and a digest of its {@code config.json}
 * and of every safetensors file's name, size and header (each tensor's name, dtype, shape and
 * offsets). Two checkpoints that differ in configuration or in the layout of their weights get
 * different ids, whatever their directories are called; the id names the model's latent cache
 * blocks and is what an attention instance checks its expert pools against.
 */
public final class ModelIdentity {
  /** A header longer than this is not read whole; its first bytes and its length are digested. */
  private static final int MAX_HEADER = 100 << 20;

  private ModelIdentity() {}

  public static String of(Path dir) {
    Path config = dir.resolve("config.json");
    try {
      MessageDigest digest = MessageDigest.getInstance("SHA-256");
      digest.update(Files.readAllBytes(config));
      for (Path f : safetensors(dir)) {
        digest.update(f.getFileName().toString().getBytes(StandardCharsets.UTF_8));
        digestHeader(f, digest);
      }
      String name = dir.toAbsolutePath().normalize().getFileName().toString();
      return name + "@" + HexFormat.of().formatHex(digest.digest(), 0, 6);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read the checkpoint in " + dir, e);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException("every Java runtime has SHA-256", e);
    }
  }

  private static List<Path> safetensors(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files
          .filter(f -> f.getFileName().toString().endsWith(".safetensors"))
          .sorted()
          .toList();
    }
  }

  /** The file's size, its header's length and the header's bytes. */
  private static void digestHeader(Path f, MessageDigest digest) throws IOException {
    try (FileChannel in = FileChannel.open(f)) {
      long size = in.size();
      ByteBuffer head = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      in.read(head, 0);
      long length = head.position() == 8 ? head.getLong(0) : -1;
      digest.update(ByteBuffer.allocate(16).putLong(size).putLong(length).flip());
      if (length > 0 && 8 + length <= size) {
        ByteBuffer header = ByteBuffer.allocate((int) Math.min(length, MAX_HEADER));
        while (header.hasRemaining() && in.read(header, 8 + header.position()) > 0) {}
        digest.update(header.flip());
      }
    }
  }
}
