package io.disaggmoe.kvcache.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KvBlockStoreTest {
  /** 4 tokens x 2 layers x 8 F32 = 256 bytes per block. */
  static StoredBlock block(int seed) {
    byte[] data = new byte[256];
    new SplittableRandom(seed).nextBytes(data);
    CRC32C crc = new CRC32C();
    crc.update(data);
    return new StoredBlock(new BlockHeader("m", "F32", 4, 2, 8, (int) crc.getValue()), data);
  }

  static BlockName name(int i) {
    return BlockName.hash(new byte[] {(byte) i, 1, 2});
  }

  @Test
  void aBlockComesBackByteForByte() {
    KvBlockStore store = KvBlockStore.inMemory(10_000, 4);
    store.put(name(1), block(1));
    assertThat(store.get(name(1)).orElseThrow().data()).isEqualTo(block(1).data());
    assertThat(store.get(name(2))).isEmpty();
    KvCacheStats s = store.stats();
    assertThat(s.hits()).isEqualTo(1);
    assertThat(s.misses()).isEqualTo(1);
    assertThat(s.usedBytes()).isEqualTo(256);
  }

  @Test
  void prefixMatchCountsLeadingStoredBlocksUnderTheSameTenantOnly() {
    KvBlockStore store = KvBlockStore.inMemory(10_000, 4);
    int[] tokens = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    PrefixMatch m = store.match("m", "alice", tokens);
    assertThat(m.hashes()).hasSize(2);
    assertThat(m.matchedBlocks()).isZero();
    store.put(BlockName.hash(m.hashes().get(0)), block(1));
    assertThat(store.match("m", "alice", tokens).matchedTokens()).isEqualTo(4);
    assertThat(store.match("m", "bob", tokens).matchedTokens())
        .as("the same tokens under another tenant salt")
        .isZero();
    // Block 1 stored without block 0 matches nothing: a prefix is leading blocks only.
    KvBlockStore other = KvBlockStore.inMemory(10_000, 4);
    other.put(BlockName.hash(m.hashes().get(1)), block(2));
    assertThat(other.match("m", "alice", tokens).matchedBlocks()).isZero();
  }

  @Test
  void lruEvictsOnlyUnpinnedBlocksAndAFullPinnedBudgetRefusesAPut() {
    AtomicLong now = new AtomicLong();
    KvBlockStore store = KvBlockStore.inMemory(3 * 256, 4, now::get);
    for (int i = 0; i < 3; i++) {
      store.put(name(i), block(i));
    }
    store.pin("r1", List.of(name(0)), 60_000);
    store.get(name(1));
    store.put(name(3), block(3));
    assertThat(store.get(name(2))).as("least recently used, unpinned").isEmpty();
    assertThat(store.get(name(0))).as("pinned though oldest").isPresent();
    assertThat(store.stats().evictions()).isEqualTo(1);

    store.pin("r2", List.of(name(1), name(3)), 60_000);
    assertThatThrownBy(() -> store.put(name(4), block(4)))
        .isInstanceOf(CacheFullException.class)
        .hasMessageContaining("pinned");
    assertThat(store.stats().pinnedBytes()).isEqualTo(3 * 256);

    store.unpin("r2");
    store.put(name(4), block(4));
    assertThat(store.get(name(0))).isPresent();
  }

  @Test
  void pinTtlsAndLeasesAreBounded() {
    KvBlockStore store = KvBlockStore.inMemory(256, 4);
    store.put(name(0), block(0));
    assertThatThrownBy(() -> store.pin("r", List.of(name(0)), KvBlockStore.MAX_PIN_TTL_MILLIS + 1))
        .isInstanceOf(InvalidBlockException.class)
        .hasMessageContaining("ttl_ms must be in [1, " + KvBlockStore.MAX_PIN_TTL_MILLIS + "]");
    for (int i = 0; i < KvBlockStore.MAX_LEASES; i++) {
      store.pin("r" + i, List.of(name(0)), 60_000);
    }
    assertThatThrownBy(() -> store.pin("one-more", List.of(name(0)), 60_000))
        .isInstanceOf(CacheFullException.class)
        .hasMessageContaining("the most this store keeps (" + KvBlockStore.MAX_LEASES + ")");
    assertThat(store.pin("r7", List.of(name(0)), 60_000)).as("a lease already held renews").isOne();
  }

  @Test
  void aPinArrivingAfterItsRequestsUnpinPinsNothing() {
    AtomicLong now = new AtomicLong();
    KvBlockStore store = KvBlockStore.inMemory(3 * 256, 4, now::get);
    store.put(name(0), block(0));
    // The caller gave up (unpin) while its prefill was still writing; the prefill's pin comes last.
    store.unpin("gone");
    assertThat(store.pin("gone", List.of(name(0)), 60_000)).isZero();
    assertThat(store.stats().pinnedBytes()).isZero();
    // Once the id's release has lapsed, it may pin again.
    now.addAndGet(KvBlockStore.RELEASED_MILLIS);
    assertThat(store.pin("gone", List.of(name(0)), 60_000)).isEqualTo(1);
  }

  @Test
  void aLeaseEndsAfterItsTtl() {
    AtomicLong now = new AtomicLong();
    KvBlockStore store = KvBlockStore.inMemory(256, 4, now::get);
    store.put(name(0), block(0));
    store.pin("r", List.of(name(0)), 1000);
    assertThatThrownBy(() -> store.put(name(1), block(1))).isInstanceOf(CacheFullException.class);
    now.set(1000);
    store.put(name(1), block(1));
    assertThat(store.stats().pinnedBytes()).isZero();
  }

  @Test
  void badBlocksAreRefusedWithTheReason() {
    KvBlockStore store = KvBlockStore.inMemory(10_000, 4);
    StoredBlock b = block(1);
    byte[] flipped = b.data().toByteArray();
    flipped[7] ^= 1;
    assertThatThrownBy(() -> store.put(name(1), new StoredBlock(b.header(), flipped)))
        .isInstanceOf(InvalidBlockException.class)
        .hasMessageContaining("CRC32C");
    assertThatThrownBy(() -> store.put(name(1), new StoredBlock(b.header(), new byte[10])))
        .hasMessageContaining("10 bytes of data");
    BlockHeader badType = new BlockHeader("m", "I64", 4, 2, 8, 0);
    assertThatThrownBy(() -> store.put(name(1), new StoredBlock(badType, new byte[0])))
        .hasMessageContaining("dtype I64");
    assertThatThrownBy(() -> KvBlockStore.inMemory(100, 4).put(name(1), b))
        .isInstanceOf(CacheFullException.class)
        .hasMessageContaining("more than the whole budget");
  }

  @Test
  void aTailIsReplacedAndDeleteFreesItsBytes() {
    KvBlockStore store = KvBlockStore.inMemory(10_000, 4);
    BlockName tail = BlockName.tail("req-1");
    store.put(tail, block(1));
    store.put(tail, block(2));
    assertThat(store.get(tail).orElseThrow().data()).isEqualTo(block(2).data());
    assertThat(store.stats().usedBytes()).isEqualTo(256);
    assertThat(store.delete(List.of(tail, name(9)))).isEqualTo(1);
    assertThat(store.stats().usedBytes()).isZero();
  }

  private static Path fileOf(Path dir, BlockName name) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files
          .filter(f -> f.getFileName().toString().startsWith(name.fileName() + "-"))
          .findFirst()
          .orElseThrow();
    }
  }

  private static long files(Path dir) throws IOException {
    try (Stream<Path> files = Files.list(dir)) {
      return files.count();
    }
  }

  @Test
  void durableBlocksSurviveARestartAndACorruptFileIsNeverServed(@TempDir Path dir)
      throws IOException {
    try (KvBlockStore first = KvBlockStore.withDisk(10_000, 10_000, 4, dir)) {
      for (int i = 0; i < 3; i++) {
        first.put(name(i), block(i), true).join();
      }
      first.put(BlockName.tail("req/with:odd chars"), block(7), true).join();
      first.put(name(8), block(8));
    }
    corruptOneByte(fileOf(dir, name(1)));

    try (KvBlockStore second = KvBlockStore.withDisk(10_000, 10_000, 4, dir)) {
      assertThat(second.stats().blocks())
          .as("3 durable blocks, a tail, and one close wrote")
          .isEqualTo(5);
      assertThat(second.get(name(0)).orElseThrow().data()).isEqualTo(block(0).data());
      assertThat(second.get(name(2)).orElseThrow().data()).isEqualTo(block(2).data());
      assertThat(second.get(BlockName.tail("req/with:odd chars")).orElseThrow().data())
          .isEqualTo(block(7).data());
      assertThat(second.get(name(1))).as("the corrupted block").isEmpty();
      assertThat(second.get(name(8)).orElseThrow().data())
          .as("a block only in memory, written by the graceful close")
          .isEqualTo(block(8).data());
      assertThat(second.stats().corruptBlocks()).isEqualTo(1);
      assertThat(files(dir)).isEqualTo(4);
    }
  }

  @Test
  void aTruncatedFileIsDroppedAtStart(@TempDir Path dir) throws IOException {
    try (KvBlockStore first = KvBlockStore.withDisk(10_000, 10_000, 4, dir)) {
      first.put(name(0), block(0), true).join();
    }
    Path f = fileOf(dir, name(0));
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(raf.length() - 3);
    }
    Files.writeString(dir.resolve(name(1).fileName() + "-9.blk.tmp"), "half a write");
    try (KvBlockStore second = KvBlockStore.withDisk(10_000, 10_000, 4, dir)) {
      assertThat(second.stats().blocks()).isZero();
      assertThat(second.stats().corruptBlocks()).isEqualTo(1);
      assertThat(files(dir)).as("the torn file and the temporary one are gone").isZero();
    }
  }

  @Test
  void whileDiskHasRoomSpillingRunsAheadOfWhatOnePutNeeds(@TempDir Path dir) throws IOException {
    // Memory holds 16 blocks; the 17th needs one to leave, and an eighth of memory goes with it.
    try (KvBlockStore store = KvBlockStore.withDisk(16 * 256, 100 * 288, 4, dir)) {
      for (int i = 0; i < 17; i++) {
        store.put(name(i), block(i));
      }
      store.flush();
      assertThat(store.stats().spills()).as("blocks spilled for one put").isEqualTo(3);
      assertThat(store.stats().usedBytes()).isEqualTo(14 * 256);
      assertThat(store.stats().blocks()).isEqualTo(17);
    }
  }

  @Test
  void blocksLeavingMemorySpillToDiskAndComeBackOnAGet(@TempDir Path dir) throws IOException {
    // Memory holds 4 blocks and disk 12 (files of 288 bytes): 16 distinct blocks fit.
    try (KvBlockStore store = KvBlockStore.withDisk(4 * 256, 12 * 288, 4, dir)) {
      for (int i = 0; i < 16; i++) {
        store.put(name(i), block(i));
      }
      store.flush();
      KvCacheStats s = store.stats();
      assertThat(s.blocks()).isEqualTo(16);
      assertThat(s.usedBytes()).isLessThanOrEqualTo(4 * 256);
      assertThat(s.spills()).isEqualTo(12);
      assertThat(s.evictions()).isZero();
      for (int i = 0; i < 16; i++) {
        assertThat(store.get(name(i)).orElseThrow().data())
            .as("block %d", i)
            .isEqualTo(block(i).data());
      }
      assertThat(store.stats().promotions()).isPositive();
      assertThat(store.stats().usedBytes()).isLessThanOrEqualTo(4 * 256);
      // A 17th block pushes the least recently used one out of both tiers.
      store.put(name(16), block(16));
      store.flush();
      assertThat(store.stats().blocks()).isEqualTo(16);
      assertThat(store.stats().evictions()).isPositive();
    }
  }

  @Test
  void aDurablePutWithoutADiskTierIsRefused() {
    assertThatThrownBy(() -> KvBlockStore.inMemory(10_000, 4).put(name(1), block(1), true))
        .isInstanceOf(NoDiskTierException.class)
        .hasMessageContaining("needs a disk tier");
  }

  @Test
  void memoryAndDiskStayFlatUnderALongRun(@TempDir Path dir) throws IOException {
    try (KvBlockStore store = KvBlockStore.withDisk(8 * 256, 16 * 400, 4, dir)) {
      for (int i = 0; i < 2000; i++) {
        BlockName n = BlockName.hash(new byte[] {(byte) i, (byte) (i >> 8), 9});
        store.put(n, block(i), i % 7 == 0);
        store.pin("r" + i, List.of(n), 1000);
        store.unpin("r" + i);
        if (i % 3 == 0) {
          store.put(BlockName.tail("req" + (i % 10)), block(i));
        }
        if (i % 5 == 0) {
          // A block from a while ago: on disk, or gone.
          store.get(BlockName.hash(new byte[] {(byte) (i / 2), (byte) (i / 2 >> 8), 9}));
        }
        KvCacheStats s = store.stats();
        if (s.usedBytes() > 8 * 256 + 4 * 256 || s.diskBytes() > 16 * 400) {
          throw new AssertionError("step " + i + ": " + s);
        }
      }
      store.flush();
      KvCacheStats s = store.stats();
      assertThat(s.usedBytes()).isLessThanOrEqualTo(8 * 256);
      assertThat(s.diskBytes()).isLessThanOrEqualTo(16 * 400);
      assertThat(s.spills()).isPositive();
      assertThat(s.promotions()).isPositive();
      long bytesOnDisk;
      try (Stream<Path> files = Files.list(dir)) {
        bytesOnDisk = files.mapToLong(f -> f.toFile().length()).sum();
      }
      assertThat(bytesOnDisk)
          .as("the files on disk are the ones the index counts")
          .isEqualTo(s.diskBytes());
    }
  }

  private static void corruptOneByte(Path f) throws IOException {
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      long at = raf.length() - 10;
      raf.seek(at);
      int b = raf.read();
      raf.seek(at);
      raf.write(b ^ 0x40);
    }
  }
}
