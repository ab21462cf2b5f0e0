package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.KvCacheStats;
import io.disaggmoe.proto.wire.StageChannels;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.springframework.util.FileSystemUtils;

/**
 * The disk tier under load: a kv-cache-service process whose memory holds two rounds of blocks is
 * sent many more, so that every put beyond them waits for blocks to spill (written, forced, the
 * directory synced); then every block is got back in the order put, each promoted from disk. Beside
 * them, the same block files written and forced, and read back, by one plain thread: the disk's
 * bound. The page cache is dropped before each read phase where the kernel allows it.
 */
final class KvDiskBenchmark {
  private static final Path DROP_CACHES = Path.of("/proc/sys/vm/drop_caches");

  private final Path dir;
  private final List<LatentBlock> round;
  private final long blockBytes;
  private final int rounds;

  /**
   * @param round the blocks put in each round (under new names every round)
   * @param totalBytes at least this many block bytes are put in all
   */
  KvDiskBenchmark(Path dir, List<LatentBlock> round, long blockBytes, long totalBytes) {
    this.dir = dir;
    this.round = round;
    this.blockBytes = blockBytes;
    this.rounds = (int) Math.max(4, Math.ceilDiv(totalBytes, blockBytes * round.size()));
  }

  Map<String, Object> run(String modelId, int layers, int width, KvDtype dtype, int blockTokens)
      throws Exception {
    long total = (long) rounds * round.size() * blockBytes;
    Path raw = Files.createDirectories(dir.resolve("raw-bound"));
    double rawWrite = writeFiles(raw, rounds * round.size());
    boolean dropped = dropPageCache();
    double rawRead = readFiles(raw);
    FileSystemUtils.deleteRecursively(raw);

    Path tier = dir.resolve("tier");
    FileSystemUtils.deleteRecursively(tier);
    long memory = 2 * blockBytes * round.size();
    double putSeconds;
    double getSeconds;
    KvCacheStats afterPut;
    KvCacheStats afterGet;
    try (ServiceProcess kv =
            ServiceProcess.kvCache(
                memory,
                blockTokens,
                "--disk",
                tier.toString(),
                "--disk-capacity",
                String.valueOf(total + total / 2));
        GrpcKvCacheClient client =
            GrpcKvCacheClient.connect(
                StageChannels.plaintext(),
                kv.target(),
                modelId,
                layers,
                width,
                dtype,
                Duration.ofMinutes(5))) {
      ManagedChannel stats = StageChannels.plaintext().open(kv.target(), StageChannels.Kind.CALLS);
      try {
        var stub = KvCacheServiceGrpc.newBlockingStub(stats);
        long start = System.nanoTime();
        for (int r = 0; r < rounds; r++) {
          client.putBlocks(names(r), round);
        }
        putSeconds = (System.nanoTime() - start) / 1e9;
        afterPut = stub.getStats(GetStatsRequest.getDefaultInstance());
        dropPageCache();
        start = System.nanoTime();
        for (int r = 0; r < rounds; r++) {
          int got = client.getLeading(names(r)).size();
          if (got != round.size()) {
            throw new IllegalStateException(
                "round " + r + ": got " + got + " of " + round.size() + " blocks back from disk");
          }
        }
        getSeconds = (System.nanoTime() - start) / 1e9;
        afterGet = stub.getStats(GetStatsRequest.getDefaultInstance());
      } finally {
        stats.shutdownNow();
      }
    } finally {
      FileSystemUtils.deleteRecursively(tier);
    }
    long spilled = afterPut.getSpills() * blockBytes;
    long promoted = (afterGet.getPromotions() - afterPut.getPromotions()) * blockBytes;
    double spill = spilled / putSeconds / 1e9;
    double promote = promoted / getSeconds / 1e9;
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("spill_gb_s", KvBenchCommand.round3(spill));
    out.put("promote_gb_s", KvBenchCommand.round3(promote));
    out.put("disk_write_gb_s", KvBenchCommand.round3(total / rawWrite / 1e9));
    out.put("disk_read_gb_s", KvBenchCommand.round3(total / rawRead / 1e9));
    out.put("fraction_of_disk_write", KvBenchCommand.round3(spill / (total / rawWrite / 1e9)));
    out.put("fraction_of_disk_read", KvBenchCommand.round3(promote / (total / rawRead / 1e9)));
    out.put("page_cache_dropped", dropped);
    out.put("spills", afterPut.getSpills());
    out.put("promotions", afterGet.getPromotions() - afterPut.getPromotions());
    out.put("memory_bytes", memory);
    out.put("put_bytes", total);
    out.put("block_bytes", blockBytes);
    return out;
  }

  private List<byte[]> names(int r) {
    List<byte[]> names = new ArrayList<>();
    for (int i = 0; i < round.size(); i++) {
      names.add(ByteBuffer.allocate(8).putInt(r).putInt(i).array());
    }
    return names;
  }

  /** Seconds to write {@code files} files of one block each, forcing each, then the directory. */
  private double writeFiles(Path raw, int files) throws IOException {
    ByteBuffer data = ByteBuffer.allocateDirect((int) blockBytes);
    long start = System.nanoTime();
    for (int i = 0; i < files; i++) {
      try (FileChannel out =
          FileChannel.open(
              raw.resolve(i + ".blk"), StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
        data.clear();
        while (data.hasRemaining()) {
          out.write(data);
        }
        out.force(false);
      }
    }
    try (FileChannel d = FileChannel.open(raw, StandardOpenOption.READ)) {
      d.force(true);
    }
    return (System.nanoTime() - start) / 1e9;
  }

  /** Seconds to read every file back, in the order written. */
  private double readFiles(Path raw) throws IOException {
    ByteBuffer data = ByteBuffer.allocateDirect((int) blockBytes);
    int files;
    try (Stream<Path> s = Files.list(raw)) {
      files = (int) s.count();
    }
    long start = System.nanoTime();
    for (int i = 0; i < files; i++) {
      try (FileChannel in = FileChannel.open(raw.resolve(i + ".blk"), StandardOpenOption.READ)) {
        data.clear();
        while (data.hasRemaining() && in.read(data) >= 0) {}
      }
    }
    return (System.nanoTime() - start) / 1e9;
  }

  /** Writes back dirty pages and drops the page cache, when this process may; whether it did. */
  private static boolean dropPageCache() {
    try {
      new ProcessBuilder("sync").inheritIO().start().waitFor();
      Files.writeString(DROP_CACHES, "1");
      return true;
    } catch (IOException e) {
      return false;
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      return false;
    }
  }
}
