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

  @Test
  void blocksSurviveARestartAndACorruptFileIsNeverServed(@TempDir Path dir) throws IOException {
    KvBlockStore first = KvBlockStore.withDisk(10_000, 4, dir);
    for (int i = 0; i < 3; i++) {
      first.put(name(i), block(i));
    }
    first.put(BlockName.tail("req/with:odd chars"), block(7));
    corruptOneByte(dir.resolve(name(1).fileName() + ".blk"));

    KvBlockStore second = KvBlockStore.withDisk(10_000, 4, dir);
    assertThat(second.stats().blocks()).isEqualTo(4);
    assertThat(second.get(name(0)).orElseThrow().data()).isEqualTo(block(0).data());
    assertThat(second.get(name(2)).orElseThrow().data()).isEqualTo(block(2).data());
    assertThat(second.get(BlockName.tail("req/with:odd chars")).orElseThrow().data())
        .isEqualTo(block(7).data());
    assertThat(second.get(name(1))).as("the corrupted block").isEmpty();
    assertThat(second.stats().corruptBlocks()).isEqualTo(1);
    assertThat(Files.exists(dir.resolve(name(1).fileName() + ".blk"))).isFalse();
  }

  @Test
  void aTruncatedFileIsDroppedAtStart(@TempDir Path dir) throws IOException {
    KvBlockStore first = KvBlockStore.withDisk(10_000, 4, dir);
    first.put(name(0), block(0));
    Path f = dir.resolve(name(0).fileName() + ".blk");
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      raf.setLength(raf.length() - 3);
    }
    KvBlockStore second = KvBlockStore.withDisk(10_000, 4, dir);
    assertThat(second.stats().blocks()).isZero();
    assertThat(second.stats().corruptBlocks()).isEqualTo(1);
  }

  @Test
  void memoryAndDiskStayFlatUnderALongRun(@TempDir Path dir) throws IOException {
    KvBlockStore store = KvBlockStore.withDisk(16 * 256, 4, dir);
    for (int i = 0; i < 2000; i++) {
      store.put(BlockName.hash(new byte[] {(byte) i, (byte) (i >> 8), 9}), block(i));
      store.pin("r" + i, List.of(BlockName.hash(new byte[] {(byte) i, (byte) (i >> 8), 9})), 1000);
      store.unpin("r" + i);
      if (i % 3 == 0) {
        store.put(BlockName.tail("req" + i), block(i));
      }
    }
    KvCacheStats s = store.stats();
    assertThat(s.usedBytes()).isLessThanOrEqualTo(16 * 256);
    assertThat(s.blocks()).isEqualTo(16);
    long filesOnDisk;
    try (Stream<Path> files = Files.list(dir)) {
      filesOnDisk = files.count();
    }
    assertThat(filesOnDisk).as("files on disk").isEqualTo(16);
    assertThat(s.diskBytes()).isLessThan(16 * 400);
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
