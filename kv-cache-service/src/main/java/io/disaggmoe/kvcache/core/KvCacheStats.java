package io.disaggmoe.kvcache.core;

/** Counters of a {@link KvBlockStore}, as GetStats reports them. */
public record KvCacheStats(
    long capacityBytes,
    long usedBytes,
    long pinnedBytes,
    long blocks,
    long hits,
    long misses,
    long evictions,
    long diskBytes,
    long corruptBlocks) {}
