package io.disaggmoe.kvcache.core;

/** A block's header and data; {@code data} is never modified once stored. */
public record StoredBlock(BlockHeader header, byte[] data) {}
