package io.disaggmoe.kvcache.core;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * One file per block under a directory, so that blocks survive a restart. A file holds a small
 * header (with the CRC32C of the data) and the data; it is written to a temporary name and moved
 * into place, so a crash never leaves half a block under a block's name.
 */
final class DiskTier {
  private static final int MAGIC = 0x444d4b56; // "DMKV"
  private static final int VERSION = 1;
  private static final String SUFFIX = ".blk";

  private final Path dir;

  DiskTier(Path dir) throws IOException {
    this.dir = Files.createDirectories(dir);
  }

  Path dir() {
    return dir;
  }

  /** A block found on disk at start, with its header only. */
  record Found(BlockName name, BlockHeader header, long fileBytes, long modified) {}

  /** The blocks on disk, oldest first, and how many files did not parse (they are deleted). */
  record Scan(List<Found> found, int corrupt) {}

  Scan scan() throws IOException {
    List<Found> found = new ArrayList<>();
    int corrupt = 0;
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        String file = f.getFileName().toString();
        if (file.endsWith(".tmp")) {
          Files.deleteIfExists(f);
          continue;
        }
        BlockName name =
            file.endsWith(SUFFIX)
                ? BlockName.parse(file.substring(0, file.length() - SUFFIX.length()))
                : null;
        if (name == null) {
          continue;
        }
        try (DataInputStream in = open(f)) {
          BlockHeader h = readHeader(in, f);
          long size = Files.size(f);
          if (size != headerBytes(h) + h.dataBytes()) {
            throw new IOException(f + " has " + size + " bytes; its header says otherwise");
          }
          found.add(new Found(name, h, size, Files.getLastModifiedTime(f).toMillis()));
        } catch (IOException | RuntimeException e) {
          corrupt++;
          Files.deleteIfExists(f);
        }
      }
    }
    found.sort(Comparator.comparingLong(Found::modified));
    return new Scan(found, corrupt);
  }

  long write(BlockName name, StoredBlock block) {
    Path target = path(name);
    Path tmp = dir.resolve(name.fileName() + ".tmp");
    try {
      try (DataOutputStream out =
          new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16))) {
        BlockHeader h = block.header();
        out.writeInt(MAGIC);
        out.writeInt(VERSION);
        out.writeUTF(h.modelId());
        out.writeUTF(h.dtype());
        out.writeInt(h.tokens());
        out.writeInt(h.layers());
        out.writeInt(h.width());
        out.writeInt(h.checksum());
        block.data().writeTo(out);
      }
      try {
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
      } catch (AtomicMoveNotSupportedException e) {
        Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
      }
      return Files.size(target);
    } catch (IOException e) {
      throw new UncheckedIOException("cannot write " + name + " to " + target, e);
    }
  }

  /**
   * The block, or null when its file is gone or fails its checksum (the file is then deleted: a
   * corrupt block is never served).
   */
  StoredBlock read(BlockName name) {
    Path f = path(name);
    try (DataInputStream in = open(f)) {
      BlockHeader h = readHeader(in, f);
      byte[] data = in.readNBytes((int) h.dataBytes());
      CRC32C crc = new CRC32C();
      crc.update(data);
      if (data.length != h.dataBytes() || (int) crc.getValue() != h.checksum() || in.read() != -1) {
        throw new IOException(f + " fails its checksum or length");
      }
      return new StoredBlock(h, data);
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException | RuntimeException e) {
      delete(name);
      return null;
    }
  }

  void delete(BlockName name) {
    try {
      Files.deleteIfExists(path(name));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + path(name), e);
    }
  }

  Path path(BlockName name) {
    return dir.resolve(name.fileName() + SUFFIX);
  }

  private static DataInputStream open(Path f) throws IOException {
    return new DataInputStream(new BufferedInputStream(Files.newInputStream(f), 1 << 16));
  }

  private static BlockHeader readHeader(DataInputStream in, Path f) throws IOException {
    if (in.readInt() != MAGIC || in.readInt() != VERSION) {
      throw new IOException(f + " is not a DisaggMoE KV block (version " + VERSION + ")");
    }
    BlockHeader h =
        new BlockHeader(
            in.readUTF(), in.readUTF(), in.readInt(), in.readInt(), in.readInt(), in.readInt());
    h.validate();
    return h;
  }

  private static long headerBytes(BlockHeader h) {
    return 4 * 2 + 2 + utf8(h.modelId()) + 2 + utf8(h.dtype()) + 4 * 4;
  }

  private static int utf8(String s) {
    return s.getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
  }
}
