package io.disaggmoe.kvcache.core;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * A block's header and data. The data is kept as the bytes that arrived (chunks joined without a
 * copy) and sent back as they are; it is never modified once stored.
 */
public record StoredBlock(BlockHeader header, ByteString data) {

  /** Wraps {@code data} without a copy; the caller gives it up. */
  public StoredBlock(BlockHeader header, byte[] data) {
    this(header, UnsafeByteOperations.unsafeWrap(data));
  }

  /** CRC32C of the data, over its pieces in place. */
  int checksum() {
    CRC32C crc = new CRC32C();
    for (ByteBuffer piece : data.asReadOnlyByteBufferList()) {
      crc.update(piece);
    }
    return (int) crc.getValue();
  }
}
