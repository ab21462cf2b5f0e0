package io.disaggmoe.kvcache.core;

import com.google.protobuf.ByteString;
import io.disaggmoe.proto.BlockHashChain;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.PriorityQueue;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * The block store behind kv-cache-service: blocks by name in two tiers, memory and (optionally)
 * disk, each under its own byte budget; pins held per request under a lease.
 *
 * <p>Memory is a cache in front of the disk: the least recently used unpinned block leaves memory
 * when a new one needs room. Without a disk tier it is gone; with one it is spilled, written by a
 * {@link SpillWriter} that forces each group of files to the device before it lets go of the memory
 * copy, and disk's own least recently used blocks are deleted when the disk budget is full. So the
 * store holds up to memory budget + disk budget of distinct blocks. A get of a block that is only
 * on disk reads and checks it outside the lock and promotes it back into memory (the disk copy
 * stays until disk needs the room: such second copies go first). A put may ask to be durable: it is
 * acknowledged once its file is synced. After a restart the blocks on disk are the index; a file
 * that is torn or fails its checksum is a miss, deleted, never served.
 */
public final class KvBlockStore implements AutoCloseable {
  /** The longest lease a pin may ask for: one hour. */
  public static final long MAX_PIN_TTL_MILLIS = TimeUnit.HOURS.toMillis(1);

  /** Requests holding leases at once, at most. */
  public static final int MAX_LEASES = 100_000;

  /** How long an unpinned request's id refuses pins. */
  static final long RELEASED_MILLIS = TimeUnit.MINUTES.toMillis(10);

  /** Released ids remembered at most; the oldest are forgotten first. */
  static final int MAX_RELEASED = 100_000;

  /** Spilling frees 1/SPILL_AHEAD of the memory budget beyond what a put needs. */
  private static final int SPILL_AHEAD = 8;

  private final long capacity;
  private final long diskCapacity;
  private final int blockTokens;
  private final DiskTier disk;
  private final SpillWriter writer;
  private final LongSupplier clockMillis;
  private final Map<BlockName, Entry> entries = new HashMap<>();
  // Access order: iteration starts at the least recently used block of each tier.
  private final LinkedHashMap<BlockName, Entry> inMemory = new LinkedHashMap<>(64, 0.75f, true);
  private final LinkedHashMap<BlockName, Entry> onDisk = new LinkedHashMap<>(64, 0.75f, true);
  private final Map<String, Lease> leases = new HashMap<>();
  // Every pin's deadline, soonest first; entries of leases renewed or ended since are skipped.
  private final PriorityQueue<Deadline> deadlines =
      new PriorityQueue<>(Comparator.comparingLong(Deadline::at));
  // Requests unpinned lately, oldest first, with when that stops mattering: a pin that arrives
  // after its request's unpin (the caller gave up while its prefill was still writing) pins
  // nothing, instead of holding blocks until its lease runs out.
  private final LinkedHashMap<String, Long> released = new LinkedHashMap<>();
  private final Map<BlockName, Integer> pins = new HashMap<>();
  private long nextGeneration = 1;
  private long used;
  private long spillingBytes;
  private long pinnedBytes;
  private long diskBytes;
  private long hits;
  private long misses;
  private long evictions;
  private long corrupt;
  private long spills;
  private long promotions;

  static final class Entry {
    final BlockName name;
    final BlockHeader header;
    final long bytes;
    // Null while the block is only on disk.
    ByteString data;
    // 0 while the block has no file.
    long generation;
    long fileBytes;
    boolean spilling;

    Entry(BlockName name, BlockHeader header, ByteString data) {
      this.name = name;
      this.header = header;
      this.bytes = header.dataBytes();
      this.data = data;
    }
  }

  private record Deadline(long at, String requestId) {}

  private static final class Lease {
    final Set<BlockName> names = new HashSet<>();
    long expiresAt;
  }

  private KvBlockStore(
      long capacity, long diskCapacity, int blockTokens, DiskTier disk, LongSupplier clockMillis) {
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be positive, got " + capacity);
    }
    if (blockTokens < 1) {
      throw new IllegalArgumentException("block tokens must be positive, got " + blockTokens);
    }
    if (disk != null && diskCapacity < 1) {
      throw new IllegalArgumentException("disk capacity must be positive, got " + diskCapacity);
    }
    this.capacity = capacity;
    this.diskCapacity = disk == null ? 0 : diskCapacity;
    this.blockTokens = blockTokens;
    this.disk = disk;
    this.clockMillis = clockMillis;
    this.writer = disk == null ? null : new SpillWriter(this, disk);
  }

  /** A store in memory only. */
  public static KvBlockStore inMemory(long capacity, int blockTokens) {
    return new KvBlockStore(capacity, 0, blockTokens, null, System::currentTimeMillis);
  }

  static KvBlockStore inMemory(long capacity, int blockTokens, LongSupplier clock) {
    return new KvBlockStore(capacity, 0, blockTokens, null, clock);
  }

  /**
   * A store of {@code capacity} bytes in memory and {@code diskCapacity} bytes of files under
   * {@code dir}; blocks already there come back (oldest first in LRU order), and files that do not
   * parse are deleted and counted as corrupt.
   */
  public static KvBlockStore withDisk(long capacity, long diskCapacity, int blockTokens, Path dir)
      throws IOException {
    KvBlockStore store =
        new KvBlockStore(
            capacity, diskCapacity, blockTokens, new DiskTier(dir), System::currentTimeMillis);
    DiskTier.Scan scan = store.disk.scan();
    synchronized (store) {
      store.corrupt = scan.corrupt();
      store.nextGeneration = scan.nextGeneration();
      for (DiskTier.Found f : scan.found()) {
        Entry e = new Entry(f.name(), f.header(), null);
        e.generation = f.generation();
        e.fileBytes = f.fileBytes();
        store.entries.put(f.name(), e);
        store.onDisk.put(f.name(), e);
        store.diskBytes += e.fileBytes;
      }
      // A smaller budget than last time: the oldest go.
      store.evictFromDisk();
    }
    store.writer.start();
    return store;
  }

  /** The memory byte budget: no block larger than it can be stored. */
  public long capacityBytes() {
    return capacity;
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

  /** Stores a block; see {@link #put(BlockName, StoredBlock, boolean)}. */
  public void put(BlockName name, StoredBlock block) {
    put(name, block, false);
  }

  /**
   * Stores a block in memory, making room by spilling (or, without a disk tier, dropping) least
   * recently used unpinned blocks. A full block that is already stored is only touched (its name is
   * its content); a tail is replaced. When the room can only come from blocks still being written
   * to disk, the put waits for them.
   *
   * @param durable also write the block to the disk tier now
   * @return completes when the block is stored; for a durable put, once its file is synced
   * @throws CacheFullException when pinned blocks leave no room
   * @throws InvalidBlockException when the header, size or checksum is wrong
   * @throws NoDiskTierException when a durable put reaches a store without a disk tier
   */
  public CompletableFuture<Void> put(BlockName name, StoredBlock block, boolean durable) {
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
    if (durable && disk == null) {
      throw new NoDiskTierException(
          name + ": a durable put needs a disk tier, and this service has none");
    }
    return insert(name, block, durable);
  }

  private synchronized CompletableFuture<Void> insert(
      BlockName name, StoredBlock block, boolean durable) {
    BlockHeader h = block.header();
    expireLeases();
    Entry existing = entries.get(name);
    if (existing != null && !name.isTail() && existing.header.equals(h)) {
      touch(existing);
      // A copy already queued as a spill gets a second write; the later one is deleted as a spare.
      return durable && existing.generation == 0
          ? write(existing, false)
          : CompletableFuture.completedFuture(null);
    }
    if (h.dataBytes() > capacity) {
      throw new CacheFullException(
          name + " has " + h.dataBytes() + " bytes, more than the whole budget of " + capacity);
    }
    if (existing != null) {
      remove(existing);
    }
    makeRoomInMemory(h.dataBytes());
    Entry e = new Entry(name, h, block.data());
    entries.put(name, e);
    inMemory.put(name, e);
    used += e.bytes;
    if (pins.containsKey(name)) {
      pinnedBytes += e.bytes;
    }
    return durable ? write(e, false) : CompletableFuture.completedFuture(null);
  }

  /** The block, or empty when it is not stored (or was corrupt on disk, which also removes it). */
  public Optional<StoredBlock> get(BlockName name) {
    Entry e;
    synchronized (this) {
      expireLeases();
      e = entries.get(name);
      if (e == null) {
        misses++;
        return Optional.empty();
      }
      touch(e);
      if (e.data != null) {
        hits++;
        return Optional.of(new StoredBlock(e.header, e.data));
      }
    }
    // Only on disk: read and check it without holding the store.
    StoredBlock read = disk.read(name, e.generation, e.header);
    synchronized (this) {
      if (entries.get(name) != e) {
        // Replaced or deleted meanwhile: what was read is no longer this name's block.
        misses++;
        return Optional.empty();
      }
      if (read == null) {
        corrupt++;
        misses++;
        remove(e);
        return Optional.empty();
      }
      if (e.data == null) {
        // In memory first, then room: when disk is full, this block's file is the first to go.
        e.data = read.data();
        inMemory.put(name, e);
        used += e.bytes;
        promotions++;
        try {
          makeRoomInMemory(0);
        } catch (CacheFullException full) {
          // Memory is all pinned: the block is served from disk and stays only there.
          dropFromMemory(e);
          promotions--;
        }
      }
      hits++;
      return Optional.of(read);
    }
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
    if (ttlMillis < 1 || ttlMillis > MAX_PIN_TTL_MILLIS) {
      throw new InvalidBlockException(
          "ttl_ms must be in [1, " + MAX_PIN_TTL_MILLIS + "], got " + ttlMillis);
    }
    expireLeases();
    if (released.containsKey(requestId)) {
      return 0;
    }
    if (!leases.containsKey(requestId) && leases.size() >= MAX_LEASES) {
      throw new CacheFullException(
          "pin for "
              + requestId
              + ": "
              + leases.size()
              + " requests hold leases, the most this store keeps ("
              + MAX_LEASES
              + ")");
    }
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
    deadlines.add(new Deadline(lease.expiresAt, requestId));
    return lease.names.size();
  }

  /**
   * Ends the request's lease. Its id stays released for {@link #RELEASED_MILLIS}: a pin under it
   * that arrives later pins nothing.
   */
  public synchronized void unpin(String requestId) {
    released.remove(requestId);
    released.put(requestId, clockMillis.getAsLong() + RELEASED_MILLIS);
    if (released.size() > MAX_RELEASED) {
      released.pollFirstEntry();
    }
    release(requestId);
  }

  private void release(String requestId) {
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
        remove(e);
        deleted++;
      }
    }
    return deleted;
  }

  public synchronized KvCacheStats stats() {
    expireLeases();
    return new KvCacheStats(
        capacity,
        used,
        pinnedBytes,
        entries.size(),
        hits,
        misses,
        evictions,
        diskBytes,
        corrupt,
        diskCapacity,
        spills,
        promotions);
  }

  /** Waits until every spill and durable write queued so far is synced. */
  public void flush() {
    if (writer != null) {
      writer.flush();
    }
  }

  /**
   * A graceful stop: blocks that live only in memory are written to the disk tier (as its budget
   * allows), then the writer stops once everything queued is synced. A crash keeps only what was
   * already on disk.
   */
  @Override
  public void close() {
    if (writer == null) {
      return;
    }
    synchronized (this) {
      // Most recently used last, so that a full disk keeps the hottest blocks.
      for (Entry e : List.copyOf(inMemory.values())) {
        if (e.generation == 0 && !e.spilling) {
          write(e, false);
        }
      }
    }
    writer.close();
  }

  // --- called by the SpillWriter, under this store's lock ---

  /** Whether {@code e} is still the block stored under its name. */
  boolean isCurrent(Entry e) {
    return entries.get(e.name) == e;
  }

  /** A write of {@code e} reached the device (its directory entry synced too). */
  void written(Entry e, long generation, long fileBytes) {
    if (!isCurrent(e) || e.generation != 0) {
      disk.delete(e.name, generation);
      return;
    }
    e.generation = generation;
    e.fileBytes = fileBytes;
    onDisk.put(e.name, e);
    diskBytes += fileBytes;
    if (e.spilling) {
      e.spilling = false;
      spillingBytes -= e.bytes;
      dropFromMemory(e);
      spills++;
    }
    evictFromDisk();
    notifyAll();
  }

  /** A write of {@code e} failed: a block that was leaving memory is lost. */
  void writeFailed(Entry e) {
    if (e.spilling) {
      e.spilling = false;
      spillingBytes -= e.bytes;
      if (isCurrent(e)) {
        remove(e);
        evictions++;
      }
    }
    notifyAll();
  }

  long newGeneration() {
    return nextGeneration++;
  }

  // --- internals, under the lock ---

  private CompletableFuture<Void> write(Entry e, boolean spill) {
    if (spill) {
      e.spilling = true;
      spillingBytes += e.bytes;
    }
    return writer.enqueue(e, new StoredBlock(e.header, e.data));
  }

  private void touch(Entry e) {
    inMemory.get(e.name);
    onDisk.get(e.name);
  }

  /**
   * Frees memory for {@code needed} more bytes: unpinned blocks leave it least recently used first,
   * and blocks being spilled count until their files are synced, so the budget is never exceeded;
   * the caller waits for the disk writer when that is what stands between it and the room.
   */
  private void makeRoomInMemory(long needed) {
    while (used + needed > capacity) {
      startEvictions(needed);
      if (used + needed > capacity) {
        awaitWriter();
      }
    }
  }

  private void startEvictions(long needed) {
    // While disk has room, spilling goes on down to a low water mark: the writer's group then
    // carries many blocks under one directory sync, and the next puts find room without waiting.
    // A full disk gets no more than is needed, so memory and disk together still hold their sum.
    long ahead = capacity / SPILL_AHEAD;
    boolean room = disk != null && diskBytes + spillingBytes + needed + ahead <= diskCapacity;
    long low = room ? capacity - ahead : capacity;
    Iterator<Entry> lru = inMemory.values().iterator();
    while (used - spillingBytes + needed > low && lru.hasNext()) {
      Entry victim = lru.next();
      if (pins.containsKey(victim.name) || victim.spilling) {
        continue;
      }
      if (disk == null) {
        lru.remove();
        forget(victim);
        entries.remove(victim.name);
        evictions++;
      } else if (victim.generation == 0) {
        write(victim, true);
      } else if (used - spillingBytes + needed > capacity) {
        // Its file is already on disk: only the memory copy goes, and only for room needed now.
        lru.remove();
        victim.data = null;
        used -= victim.bytes;
      }
    }
    if (used - spillingBytes + needed > capacity) {
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

  /** Waits (the lock released) for the disk writer to finish a group of spills. */
  private void awaitWriter() {
    if (!writer.isRunning()) {
      throw new CacheFullException("the disk tier's writer has stopped; memory is full");
    }
    try {
      wait(100);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new CacheFullException("interrupted while waiting for memory to be spilled");
    }
  }

  /**
   * Brings disk under its budget: first the files of blocks that also have a memory copy (nothing
   * is lost), then the least recently used blocks that live only on disk.
   */
  private void evictFromDisk() {
    for (boolean secondCopiesOnly : new boolean[] {true, false}) {
      Iterator<Entry> lru = onDisk.values().iterator();
      while (diskBytes > diskCapacity && lru.hasNext()) {
        Entry victim = lru.next();
        boolean inMemoryToo = victim.data != null;
        if (secondCopiesOnly != inMemoryToo || (!inMemoryToo && pins.containsKey(victim.name))) {
          continue;
        }
        lru.remove();
        disk.delete(victim.name, victim.generation);
        diskBytes -= victim.fileBytes;
        victim.generation = 0;
        victim.fileBytes = 0;
        if (!inMemoryToo) {
          entries.remove(victim.name);
          if (pins.containsKey(victim.name)) {
            pinnedBytes -= victim.bytes;
          }
          evictions++;
        }
      }
    }
  }

  private void dropFromMemory(Entry e) {
    if (e.data != null) {
      inMemory.remove(e.name);
      e.data = null;
      used -= e.bytes;
    }
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

  /** Ends the leases whose time is up; the cost is in the leases ending, not those held. */
  private void expireLeases() {
    long now = clockMillis.getAsLong();
    for (Deadline d; (d = deadlines.peek()) != null && d.at() <= now; ) {
      deadlines.poll();
      Lease lease = leases.get(d.requestId());
      // A lease renewed since (or ended and taken again) has a later deadline of its own queued.
      if (lease != null && lease.expiresAt == d.at()) {
        release(d.requestId());
      }
    }
    for (var it = released.values().iterator(); it.hasNext(); ) {
      if (it.next() > now) {
        break;
      }
      it.remove();
    }
  }

  private void remove(Entry e) {
    entries.remove(e.name);
    forget(e);
  }

  /** Drops what an entry accounts for, once it is out of the name map. */
  private void forget(Entry e) {
    if (pins.containsKey(e.name)) {
      pinnedBytes -= e.bytes;
    }
    dropFromMemory(e);
    if (e.spilling) {
      // The writer will find it is no longer current and delete what it wrote.
      e.spilling = false;
      spillingBytes -= e.bytes;
    }
    if (e.generation != 0) {
      onDisk.remove(e.name);
      disk.delete(e.name, e.generation);
      diskBytes -= e.fileBytes;
      e.generation = 0;
    }
  }
}
