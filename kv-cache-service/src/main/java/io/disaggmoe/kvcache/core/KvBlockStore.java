package io.disaggmoe.kvcache.core;

import com.google.protobuf.ByteString;
import io.disaggmoe.proto.BlockHashChain;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.function.LongSupplier;

/**
 * The block store behind kv-cache-service: blocks by name under a byte budget, least recently used
 * unpinned blocks evicted first, pins held per request under a lease, and an optional disk tier
 * that holds the same blocks as files (so the budget bounds memory and disk alike).
 */
public final class KvBlockStore {
  private final long capacity;
  private final int blockTokens;
  private final DiskTier disk;
  private final LongSupplier clockMillis;
  // Access order: iteration starts at the least recently used block.
  private final LinkedHashMap<BlockName, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
  private final Map<String, Lease> leases = new HashMap<>();
  private final Map<BlockName, Integer> pins = new HashMap<>();
  private long used;
  private long pinnedBytes;
  private long diskBytes;
  private long hits;
  private long misses;
  private long evictions;
  private long corrupt;

  private static final class Entry {
    final BlockHeader header;
    final long bytes;
    long fileBytes;
    // Null while the block is only on disk (after a restart).
    ByteString data;

    Entry(BlockHeader header, ByteString data) {
      this.header = header;
      this.bytes = header.dataBytes();
      this.data = data;
    }
  }

  private static final class Lease {
    final Set<BlockName> names = new HashSet<>();
    long expiresAt;
  }

  private KvBlockStore(long capacity, int blockTokens, DiskTier disk, LongSupplier clockMillis) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be positive, got " + capacity);
    }
    if (blockTokens < 1) {
      throw new IllegalArgumentException("block tokens must be positive, got " + blockTokens);
    }
    this.capacity = capacity;
    this.blockTokens = blockTokens;
    this.disk = disk;
    this.clockMillis = clockMillis;
  }

  /** A store in memory only. */
  public static KvBlockStore inMemory(long capacity, int blockTokens) {
    return new KvBlockStore(capacity, blockTokens, null, System::currentTimeMillis);
  }

  /**
   * A store whose blocks are also files under {@code dir}; blocks already there come back (oldest
   * first in LRU order), and files that do not parse are deleted and counted as corrupt.
   */
  public static KvBlockStore withDisk(long capacity, int blockTokens, Path dir) throws IOException {
    return withDisk(capacity, blockTokens, dir, System::currentTimeMillis);
  }

  static KvBlockStore withDisk(long capacity, int blockTokens, Path dir, LongSupplier clock)
      throws IOException {
    KvBlockStore store = new KvBlockStore(capacity, blockTokens, new DiskTier(dir), clock);
    DiskTier.Scan scan = store.disk.scan();
    store.corrupt = scan.corrupt();
    for (DiskTier.Found f : scan.found()) {
      Entry e = new Entry(f.header(), null);
      e.fileBytes = f.fileBytes();
      store.entries.put(f.name(), e);
      store.used += e.bytes;
      store.diskBytes += e.fileBytes;
    }
    // A smaller budget than last time: the oldest go.
    store.evictUntilFits(0);
    return store;
  }

  static KvBlockStore inMemory(long capacity, int blockTokens, LongSupplier clock) {
    return new KvBlockStore(capacity, blockTokens, null, clock);
  }

  public int blockTokens() {
    return blockTokens;
  }

  /** The hash of every full block of {@code tokens}, and how many leading ones are stored. */
  public PrefixMatch match(String modelId, String tenant, int[] tokens) {
    // Hashing is the costly part and needs no lock.
    List<byte[]> hashes = BlockHashChain.hashes(modelId, tenant, tokens, blockTokens);
    List<BlockName> names = hashes.stream().map(BlockName::hash).toList();
    return new PrefixMatch(blockTokens, hashes, leadingStored(names));
  }

  private synchronized int leadingStored(List<BlockName> names) {
    int matched = 0;
    while (matched < names.size() && entries.containsKey(names.get(matched))) {
      matched++;
    }
    return matched;
  }

  /**
   * Stores a block, evicting least recently used unpinned blocks to make room. A full block that is
   * already stored is only touched (its name is its content); a tail is replaced.
   *
   * @throws CacheFullException when pinned blocks leave no room
   * @throws InvalidBlockException when the header, size or checksum is wrong
   */
  public void put(BlockName name, StoredBlock block) {
    // Checked before the lock: puts of different requests verify their bytes in parallel.
    BlockHeader h = block.header();
    h.validate();
    if (block.data().size() != h.dataBytes()) {
      throw new InvalidBlockException(
          name
              + ": "
              + block.data().size()
              + " bytes of data, but "
              + h.tokens()
              + " tokens x "
              + h.layers()
              + " layers x "
              + h.width()
              + " "
              + h.dtype()
              + " make "
              + h.dataBytes());
    }
    int crc = block.checksum();
    if (crc != h.checksum()) {
      throw new InvalidBlockException(
          name
              + ": CRC32C of the data is "
              + Integer.toUnsignedString(crc, 16)
              + ", the header says "
              + Integer.toUnsignedString(h.checksum(), 16));
    }
    insert(name, block);
  }

  private synchronized void insert(BlockName name, StoredBlock block) {
    BlockHeader h = block.header();
    expireLeases();
    Entry existing = entries.get(name);
    if (existing != null && !name.isTail() && existing.header.equals(h)) {
      return;
    }
    if (h.dataBytes() > capacity) {
      throw new CacheFullException(
          name + " has " + h.dataBytes() + " bytes, more than the whole budget of " + capacity);
    }
    if (existing != null) {
      remove(name, existing);
    }
    evictUntilFits(h.dataBytes());
    Entry e = new Entry(h, block.data());
    if (disk != null) {
      e.fileBytes = disk.write(name, block);
      diskBytes += e.fileBytes;
    }
    entries.put(name, e);
    used += e.bytes;
    if (pins.containsKey(name)) {
      pinnedBytes += e.bytes;
    }
  }

  /** The block, or empty when it is not stored (or was corrupt on disk, which also removes it). */
  public synchronized Optional<StoredBlock> get(BlockName name) {
    expireLeases();
    Entry e = entries.get(name);
    if (e == null) {
      misses++;
      return Optional.empty();
    }
    if (e.data == null) {
      StoredBlock fromDisk = disk.read(name);
      if (fromDisk == null || !fromDisk.header().equals(e.header)) {
        corrupt++;
        misses++;
        remove(name, e);
        return Optional.empty();
      }
      e.data = fromDisk.data();
    }
    hits++;
    return Optional.of(new StoredBlock(e.header, e.data));
  }

  /**
   * Pins the stored blocks among {@code names} for {@code requestId} until {@link #unpin} or until
   * {@code ttlMillis} pass without another pin for that request. Returns how many blocks the
   * request holds pinned.
   */
  public synchronized int pin(String requestId, List<BlockName> names, long ttlMillis) {
    if (requestId.isEmpty()) {
      throw new InvalidBlockException("pin needs a request_id");
    }
    if (ttlMillis < 1) {
      throw new InvalidBlockException("ttl_ms must be positive, got " + ttlMillis);
    }
    expireLeases();
    Lease lease = leases.computeIfAbsent(requestId, id -> new Lease());
    for (BlockName name : names) {
      Entry e = entries.get(name);
      if (e != null && lease.names.add(name)) {
        if (pins.merge(name, 1, Integer::sum) == 1) {
          pinnedBytes += e.bytes;
        }
      }
    }
    lease.expiresAt = clockMillis.getAsLong() + ttlMillis;
    return lease.names.size();
  }

  public synchronized void unpin(String requestId) {
    Lease lease = leases.remove(requestId);
    if (lease != null) {
      lease.names.forEach(this::release);
    }
  }

  public synchronized int delete(List<BlockName> names) {
    int deleted = 0;
    for (BlockName name : names) {
      Entry e = entries.get(name);
      if (e != null) {
        for (Lease lease : leases.values()) {
          if (lease.names.remove(name)) {
            release(name);
          }
        }
        remove(name, e);
        deleted++;
      }
    }
    return deleted;
  }

  public synchronized KvCacheStats stats() {
    expireLeases();
    return new KvCacheStats(
        capacity, used, pinnedBytes, entries.size(), hits, misses, evictions, diskBytes, corrupt);
  }

  private void release(BlockName name) {
    Integer n = pins.get(name);
    if (n == null) {
      return;
    }
    if (n == 1) {
      pins.remove(name);
      Entry e = entries.get(name);
      if (e != null) {
        pinnedBytes -= e.bytes;
      }
    } else {
      pins.put(name, n - 1);
    }
  }

  private void expireLeases() {
    long now = clockMillis.getAsLong();
    List<String> expired = new ArrayList<>();
    leases.forEach(
        (id, lease) -> {
          if (lease.expiresAt <= now) {
            expired.add(id);
          }
        });
    expired.forEach(this::unpin);
  }

  private void evictUntilFits(long needed) {
    Iterator<Map.Entry<BlockName, Entry>> lru = entries.entrySet().iterator();
    while (used + needed > capacity && lru.hasNext()) {
      Map.Entry<BlockName, Entry> victim = lru.next();
      if (pins.containsKey(victim.getKey())) {
        continue;
      }
      lru.remove();
      forget(victim.getKey(), victim.getValue());
      evictions++;
    }
    if (used + needed > capacity) {
      throw new CacheFullException(
          "no room for "
              + needed
              + " more bytes: "
              + used
              + " of "
              + capacity
              + " are used and "
              + pinnedBytes
              + " of them are pinned by in-flight requests");
    }
  }

  private void remove(BlockName name, Entry e) {
    entries.remove(name);
    forget(name, e);
  }

  /** Drops what an entry accounts for, once it is out of the map. */
  private void forget(BlockName name, Entry e) {
    used -= e.bytes;
    if (pins.containsKey(name)) {
      pinnedBytes -= e.bytes;
    }
    if (disk != null) {
      disk.delete(name);
      diskBytes -= e.fileBytes;
    }
  }
}
