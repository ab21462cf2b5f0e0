package io.disaggmoe.kvcache.grpc;

import io.disaggmoe.kvcache.core.BlockHeader;
import io.disaggmoe.kvcache.core.BlockName;
import io.disaggmoe.kvcache.core.CacheFullException;
import io.disaggmoe.kvcache.core.InvalidBlockException;
import io.disaggmoe.proto.v1.BlockKey;

/**
 * Block keys and headers between their protobuf messages and the store's types, checked the same
 * way whichever channel (gRPC or the bulk channel) brought them.
 */
public final class BlockMessages {
  /** The largest block either channel accepts: the store keeps a block in one array. */
  public static final long MAX_BLOCK_BYTES = Integer.MAX_VALUE - 8;

  private BlockMessages() {}

  public static BlockName name(BlockKey key) {
    return switch (key.getKeyCase()) {
      case HASH -> BlockName.hash(key.getHash().toByteArray());
      case TAIL_OF_REQUEST -> BlockName.tail(key.getTailTenant(), key.getTailOfRequest());
      case KEY_NOT_SET ->
          throw new InvalidBlockException("a block key names neither a hash nor a request tail");
    };
  }

  /**
   * The header a client sent for {@code name}, validated, with {@code total_bytes} matching its
   * shape and dtype, within {@link #MAX_BLOCK_BYTES} and within {@code capacity} (the store's
   * budget): checked before a byte of its data is buffered.
   *
   * @throws CacheFullException when the block is larger than the whole budget
   */
  public static BlockHeader header(
      BlockName name, io.disaggmoe.proto.v1.BlockHeader h, long capacity) {
    BlockHeader header =
        new BlockHeader(
            h.getModelId(),
            h.getDtype(),
            h.getTokens(),
            h.getLayers(),
            h.getWidth(),
            h.getChecksum());
    header.validate();
    if (h.getTotalBytes() != header.dataBytes()) {
      throw new InvalidBlockException(
          name
              + ": total_bytes "
              + h.getTotalBytes()
              + " disagrees with the shape and dtype ("
              + header.dataBytes()
              + ")");
    }
    if (header.dataBytes() > MAX_BLOCK_BYTES) {
      throw new InvalidBlockException(name + " is larger than 2 GiB");
    }
    if (header.dataBytes() > capacity) {
      throw new CacheFullException(
          name
              + " has "
              + header.dataBytes()
              + " bytes, more than the whole budget of "
              + capacity);
    }
    return header;
  }

  public static io.disaggmoe.proto.v1.BlockHeader toProto(BlockHeader h) {
    return io.disaggmoe.proto.v1.BlockHeader.newBuilder()
        .setModelId(h.modelId())
        .setDtype(h.dtype())
        .setTokens(h.tokens())
        .setLayers(h.layers())
        .setWidth(h.width())
        .setTotalBytes(h.dataBytes())
        .setChecksum(h.checksum())
        .build();
  }
}
