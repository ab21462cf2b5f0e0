package io.disaggmoe.proto.wire;

import io.disaggmoe.proto.v1.BlockChunk;
import io.disaggmoe.proto.v1.GetBlocksRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.disaggmoe.proto.v1.PutBlocksRequest;
import io.disaggmoe.proto.v1.PutBlocksResponse;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import java.util.List;

/**
 * The KV block transfer methods with marshallers that copy a block's bytes once off the wire: each
 * chunk's {@code data} aliases the array its message was read into. The store keeps that array (it
 * holds the bytes it received); a client decodes it straight into its floats.
 */
public final class KvCacheMethods {
  private KvCacheMethods() {}

  /**
   * GetBlocks as a client calls it: each chunk owns the array its data aliases (a blocking call may
   * parse the next chunk before the caller is done with this one).
   */
  public static final MethodDescriptor<GetBlocksRequest, BlockChunk> CLIENT_GET_BLOCKS =
      KvCacheServiceGrpc.getGetBlocksMethod().toBuilder(
              ProtoUtils.marshaller(GetBlocksRequest.getDefaultInstance()),
              AliasingMarshaller.owning(BlockChunk.getDefaultInstance()))
          .build();

  /** {@code generated} (the service's {@code bindService()}) with PutBlocks parsing as above. */
  public static ServerServiceDefinition owningPuts(ServerServiceDefinition generated) {
    return ServiceRebinding.replace(
        generated,
        List.of(
            KvCacheServiceGrpc.getPutBlocksMethod().toBuilder(
                    AliasingMarshaller.owning(PutBlocksRequest.getDefaultInstance()),
                    ProtoUtils.marshaller(PutBlocksResponse.getDefaultInstance()))
                .build()));
  }
}
