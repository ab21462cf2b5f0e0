package io.disaggmoe.kvcache.core;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import java.util.zip.CRC32C;

/**
 * One file per stored copy of a block, {@code <name>-<generation>.blk}: a small header (with the
 * CRC32C of the data) and the data. A file is written under a temporary name, forced to the device
 * and moved into place, so a crash never leaves half a block under a block's name; each copy has a
 * generation of its own, so deleting a replaced copy never touches its successor.
 */
final class DiskTier {
  private static final int MAGIC = 0x444d4b56; // "DMKV"
  private static final int VERSION = 2;
  private static final String SUFFIX = ".blk";

  private final Path dir;

  DiskTier(Path dir) throws IOException {
    this.dir = Files.createDirectories(dir);
  }

  /** A block found on disk at start, with its header only. */
  record Found(
      BlockName name, long generation, BlockHeader header, long fileBytes, long modified) {}

  /**
   * The newest copy of each block on disk, oldest first; files that do not parse, are torn, or are
   * superseded by a newer generation are deleted (the first two counted as corrupt).
   */
  record Scan(List<Found> found, int corrupt, long nextGeneration) {}

  Scan scan() throws IOException {
    Map<BlockName, Found> newest = new HashMap<>();
    int corrupt = 0;
    long maxGeneration = 0;
    try (Stream<Path> files = Files.list(dir)) {
      for (Path f : files.toList()) {
        String file = f.getFileName().toString();
        if (file.endsWith(".tmp")) {
          // A write that never finished: not acknowledged, never served.
          Files.deleteIfExists(f);
          continue;
        }
        int dash = file.lastIndexOf('-');
        if (!file.endsWith(SUFFIX) || dash < 0) {
          continue;
        }
        BlockName name = BlockName.parse(file.substring(0, dash));
        long generation;
        try {
          generation = Long.parseLong(file, dash + 1, file.length() - SUFFIX.length(), 10);
        } catch (NumberFormatException e) {
          continue;
        }
        if (name == null) {
          continue;
        }
        maxGeneration = Math.max(maxGeneration, generation);
        try (FileChannel in = FileChannel.open(f, StandardOpenOption.READ)) {
          BlockHeader h = readHeader(in, f);
          long size = in.size();
          if (size != headerBytes(h) + h.dataBytes()) {
            throw new IOException(f + " has " + size + " bytes; its header says otherwise");
          }
          Found found =
              new Found(name, generation, h, size, Files.getLastModifiedTime(f).toMillis());
          Found other = newest.get(name);
          if (other == null || other.generation() < generation) {
            newest.put(name, found);
            if (other != null) {
              delete(other.name(), other.generation());
            }
          } else {
            Files.deleteIfExists(f);
          }
        } catch (IOException | RuntimeException e) {
          corrupt++;
          Files.deleteIfExists(f);
        }
      }
    }
    List<Found> found = new ArrayList<>(newest.values());
    found.sort(Comparator.comparingLong(Found::modified));
    return new Scan(found, corrupt, maxGeneration + 1);
  }

  /**
   * Writes one copy and forces it to the device before moving it into place; returns its size on
   * disk. The directory entry is made durable by {@link #syncDirectory}, once per group.
   */
  long write(BlockName name, long generation, StoredBlock block) throws IOException {
    Path target = path(name, generation);
    Path tmp = dir.resolve(target.getFileName() + ".tmp");
    try (FileChannel out =
        FileChannel.open(
            tmp,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeFully(out, header(block.header()));
      for (ByteBuffer piece : block.data().asReadOnlyByteBufferList()) {
        writeFully(out, piece);
      }
      out.force(false);
    }
    try {
      Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
    }
    return Files.size(target);
  }

  /** Makes the renames of a group of writes durable. */
  void syncDirectory() throws IOException {
    try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
      d.force(true);
    } catch (IOException e) {
      // Some file systems refuse to open a directory for sync; the data itself was forced.
      if (!Files.isDirectory(dir)) {
        throw e;
      }
    }
  }

  /**
   * The copy, or null when its file is gone or fails its checksum (the file is then deleted: a
   * corrupt block is never served).
   */
  StoredBlock read(BlockName name, long generation, BlockHeader expected) {
    Path f = path(name, generation);
    try (FileChannel in = FileChannel.open(f, StandardOpenOption.READ)) {
      BlockHeader h = readHeader(in, f);
      long size = in.size();
      if (!h.equals(expected) || size != headerBytes(h) + h.dataBytes()) {
        throw new IOException(f + " does not hold the block the index expects");
      }
      byte[] data = new byte[(int) h.dataBytes()];
      ByteBuffer b = ByteBuffer.wrap(data);
      while (b.hasRemaining()) {
        if (in.read(b) < 0) {
          throw new IOException(f + " ended early");
        }
      }
      CRC32C crc = new CRC32C();
      crc.update(data);
      if ((int) crc.getValue() != h.checksum()) {
        throw new IOException(f + " fails its checksum");
      }
      return new StoredBlock(h, data);
    } catch (NoSuchFileException e) {
      return null;
    } catch (IOException | RuntimeException e) {
      delete(name, generation);
      return null;
    }
  }

  void delete(BlockName name, long generation) {
    try {
      Files.deleteIfExists(path(name, generation));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot delete " + path(name, generation), e);
    }
  }

  Path path(BlockName name, long generation) {
    return dir.resolve(name.fileName() + "-" + generation + SUFFIX);
  }

  private static void writeFully(FileChannel out, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      out.write(b);
    }
  }

  private static ByteBuffer header(BlockHeader h) {
    byte[] model = h.modelId().getBytes(StandardCharsets.UTF_8);
    byte[] dtype = h.dtype().getBytes(StandardCharsets.UTF_8);
    ByteBuffer b =
        ByteBuffer.allocate((int) headerBytes(model.length, dtype.length))
            .order(ByteOrder.BIG_ENDIAN);
    b.putInt(MAGIC).putInt(VERSION);
    b.putShort((short) model.length).put(model);
    b.putShort((short) dtype.length).put(dtype);
    b.putInt(h.tokens()).putInt(h.layers()).putInt(h.width()).putInt(h.checksum());
    return b.flip();
  }

  private static BlockHeader readHeader(FileChannel in, Path f) throws IOException {
    ByteBuffer fixed = readExactly(in, 10, f);
    if (fixed.getInt() != MAGIC || fixed.getInt() != VERSION) {
      throw new IOException(f + " is not a DisaggMoE KV block (version " + VERSION + ")");
    }
    String model = utf8(readExactly(in, fixed.getShort() & 0xffff, f));
    String dtype = utf8(readExactly(in, readExactly(in, 2, f).getShort() & 0xffff, f));
    ByteBuffer rest = readExactly(in, 16, f);
    BlockHeader h =
        new BlockHeader(model, dtype, rest.getInt(), rest.getInt(), rest.getInt(), rest.getInt());
    h.validate();
    return h;
  }

  private static ByteBuffer readExactly(FileChannel in, int n, Path f) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(n);
    while (b.hasRemaining()) {
      if (in.read(b) < 0) {
        throw new IOException(f + " ends inside its header");
      }
    }
    return b.flip();
  }

  private static String utf8(ByteBuffer b) {
    return StandardCharsets.UTF_8.decode(b).toString();
  }

  private static long headerBytes(BlockHeader h) {
    return headerBytes(
        h.modelId().getBytes(StandardCharsets.UTF_8).length,
        h.dtype().getBytes(StandardCharsets.UTF_8).length);
  }

  private static long headerBytes(int model, int dtype) {
    return 4 + 4 + 2 + model + 2 + dtype + 4 * 4;
  }
}
