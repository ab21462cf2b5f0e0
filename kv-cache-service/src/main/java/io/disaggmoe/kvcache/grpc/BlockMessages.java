package io.disaggmoe.kvcache.grpc;

import io.disaggmoe.kvcache.core.BlockHeader;
import io.disaggmoe.kvcache.core.BlockName;
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
      case TAIL_OF_REQUEST -> BlockName.tail(key.getTailOfRequest());
      case KEY_NOT_SET ->
          throw new InvalidBlockException("a block key names neither a hash nor a request tail");
    };
  }

  /**
   * The header a client sent for {@code name}, validated, with {@code total_bytes} matching its
   * shape and dtype and within {@link #MAX_BLOCK_BYTES}.
   */
  public static BlockHeader header(BlockName name, io.disaggmoe.proto.v1.BlockHeader h) {
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
