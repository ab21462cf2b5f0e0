package io.disaggmoe.model.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import tools.jackson.databind.json.JsonMapper;

/**
 * Writes safetensors files one tensor at a time, so a checkpoint larger than memory can be
 * produced: the header is computed from the shapes first, then each tensor fills its own buffer.
 */
public final class SafetensorsWriter {
  private SafetensorsWriter() {}

  /**
   * A tensor to write: {@code fill} receives a little-endian buffer of exactly the tensor's size
   * and must fill it completely.
   */
  public record PendingTensor(String name, DType dtype, long[] shape, Consumer<ByteBuffer> fill) {
    long byteLength() {
      long n = dtype.bytes();
      for (long d : shape) {
        n *= d;
      }
      return n;
    }

    /** A tensor whose bytes are already in memory. */
    public static PendingTensor of(String name, DType dtype, long[] shape, ByteBuffer data) {
      return new PendingTensor(name, dtype, shape, b -> b.put(data.duplicate().rewind()));
    }

    /** A float32 tensor from an array. */
    public static PendingTensor f32(String name, long[] shape, float[] values) {
      return new PendingTensor(name, DType.F32, shape, b -> b.asFloatBuffer().put(values));
    }

    /** An int64 tensor from an array. */
    public static PendingTensor i64(String name, long[] shape, long[] values) {
      return new PendingTensor(name, DType.I64, shape, b -> b.asLongBuffer().put(values));
    }
  }

  /** Writes {@code tensors} in order to {@code file}, replacing it. */
  public static void write(Path file, List<PendingTensor> tensors) throws IOException {
    Map<String, Object> header = new LinkedHashMap<>();
    header.put("__metadata__", Map.of("format", "pt"));
    long offset = 0;
    for (PendingTensor t : tensors) {
      long len = t.byteLength();
      // In a fixed key order (Map.of's changes from one JVM to the next), so a seed's checkpoint
      // is the same bytes in every process.
      Map<String, Object> entry = new LinkedHashMap<>();
      entry.put("dtype", t.dtype().name());
      entry.put("shape", t.shape());
      entry.put("data_offsets", new long[] {offset, offset + len});
      header.put(t.name(), entry);
      offset += len;
    }
    byte[] json = JsonMapper.builder().build().writeValueAsBytes(header);
    int padded = (json.length + 7) / 8 * 8;
    ByteBuffer head = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
    head.putLong(padded).put(json);
    while (head.hasRemaining()) {
      head.put((byte) ' ');
    }
    try (FileChannel ch =
        FileChannel.open(
            file,
            StandardOpenOption.CREATE,
            StandardOpenOption.TRUNCATE_EXISTING,
            StandardOpenOption.WRITE)) {
      writeFully(ch, head.flip());
      for (PendingTensor t : tensors) {
        ByteBuffer data =
            ByteBuffer.allocateDirect(Math.toIntExact(t.byteLength()))
                .order(ByteOrder.LITTLE_ENDIAN);
        t.fill().accept(data);
        data.clear();
        writeFully(ch, data);
      }
    }
  }

  private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
    while (b.hasRemaining()) {
      ch.write(b);
    }
  }
}
