package io.disaggmoe.kvcache.core;

/**
 * Counters of a {@link KvBlockStore}, as GetStats reports them: {@code capacityBytes} and {@code
 * usedBytes} are memory's, {@code diskCapacityBytes} and {@code diskBytes} the disk tier's.
 */
public record KvCacheStats(
    long capacityBytes,
    long usedBytes,
    long pinnedBytes,
    long blocks,
    long hits,
    long misses,
    long evictions,
    long diskBytes,
    long corruptBlocks,
    long diskCapacityBytes,
    long spills,
    long promotions) {}
