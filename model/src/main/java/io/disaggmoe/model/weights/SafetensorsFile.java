package io.disaggmoe.model.weights;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;
import tools.jackson.databind.json.JsonMapper;

/**
 * One {@code *.safetensors} file, validated on open and memory-mapped per tensor on read.
 *
 * <p>Validation covers the whole header up front (sizes, offsets, dtypes) so that a truncated file
 * fails at open time with the tensor it cuts, not later in the middle of a forward pass.
 */
public final class SafetensorsFile implements AutoCloseable {
  /** Headers larger than this are not safetensors files (the format caps them at 100 MB). */
  private static final long MAX_HEADER = 100L << 20;

  private static final ObjectMapper JSON = JsonMapper.builder().build();

  private final Path path;
  private final FileChannel channel;
  private final Map<String, TensorEntry> entries;
  private final long dataOffset;

  private SafetensorsFile(
      Path path, FileChannel channel, Map<String, TensorEntry> entries, long dataOffset) {
    this.path = path;
    this.channel = channel;
    this.entries = entries;
    this.dataOffset = dataOffset;
  }

  /** Opens and validates {@code path}; throws {@link CheckpointException} naming what is wrong. */
  public static SafetensorsFile open(Path path) {
    FileChannel channel;
    try {
      channel = FileChannel.open(path, StandardOpenOption.READ);
    } catch (IOException e) {
      throw CheckpointException.inFile(path, "cannot open: " + e);
    }
    try {
      long size = channel.size();
      if (size < 8) {
        throw CheckpointException.inFile(
            path, "truncated: " + size + " bytes, expected at least the 8-byte header length");
      }
      ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
      readFully(channel, len, 0);
      long headerLen = len.getLong(0);
      if (headerLen <= 0 || headerLen > MAX_HEADER) {
        throw CheckpointException.inFile(
            path, "corrupt: header length " + headerLen + " is not a plausible JSON header size");
      }
      if (8 + headerLen > size) {
        throw CheckpointException.inFile(
            path,
            "truncated: header says " + headerLen + " bytes of JSON but the file has " + size);
      }
      ByteBuffer header = ByteBuffer.allocate((int) headerLen);
      readFully(channel, header, 8);
      String json = new String(header.array(), StandardCharsets.UTF_8);
      long dataOffset = 8 + headerLen;
      Map<String, TensorEntry> entries = parseHeader(path, json, size - dataOffset);
      return new SafetensorsFile(path, channel, entries, dataOffset);
    } catch (IOException e) {
      closeQuietly(channel);
      throw CheckpointException.inFile(path, "cannot read: " + e);
    } catch (RuntimeException e) {
      closeQuietly(channel);
      throw e;
    }
  }

  private static Map<String, TensorEntry> parseHeader(Path path, String json, long dataBytes) {
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (JacksonException e) {
      throw CheckpointException.inFile(
          path, "corrupt: header is not valid JSON (" + e.getOriginalMessage() + ")");
    }
    if (root == null || !root.isObject()) {
      throw CheckpointException.inFile(path, "corrupt: header is not a JSON object");
    }
    Map<String, TensorEntry> entries = new LinkedHashMap<>();
    for (Map.Entry<String, JsonNode> field : root.properties()) {
      String name = field.getKey();
      if (name.equals("__metadata__")) {
        continue;
      }
      entries.put(name, parseEntry(path, name, field.getValue(), dataBytes));
    }
    return Collections.unmodifiableMap(entries);
  }

  private static TensorEntry parseEntry(Path path, String name, JsonNode n, long dataBytes) {
    String dtypeName = n.path("dtype").asString("");
    DType dtype = DType.fromHeader(dtypeName);
    if (dtype == null) {
      throw CheckpointException.forTensor(
          path, name, "dtype '" + dtypeName + "' is not supported (F32, BF16, F16, F8_E4M3, I64)");
    }
    JsonNode shapeNode = n.path("shape");
    JsonNode offsets = n.path("data_offsets");
    if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
      throw CheckpointException.forTensor(
          path, name, "corrupt header: needs shape and data_offsets");
    }
    long[] shape = new long[shapeNode.size()];
    long count = 1;
    for (int i = 0; i < shape.length; i++) {
      shape[i] = shapeNode.get(i).asLong(-1);
      if (shape[i] < 0) {
        throw CheckpointException.forTensor(path, name, "corrupt header: negative dimension");
      }
      count *= shape[i];
    }
    long begin = offsets.get(0).asLong(-1);
    long end = offsets.get(1).asLong(-1);
    TensorEntry entry = new TensorEntry(path, name, dtype, shape, begin, end);
    if (begin < 0 || end < begin) {
      throw CheckpointException.forTensor(
          path, name, "corrupt header: data_offsets [" + begin + ", " + end + "]");
    }
    if (end - begin != count * dtype.bytes()) {
      throw CheckpointException.forTensor(
          path,
          name,
          "corrupt header: "
              + dtype
              + " "
              + entry.shapeString()
              + " needs "
              + count * dtype.bytes()
              + " bytes but data_offsets span "
              + (end - begin));
    }
    if (end > dataBytes) {
      throw CheckpointException.forTensor(
          path,
          name,
          "file truncated: data ends at byte "
              + end
              + " of the data section but the file holds only "
              + dataBytes
              + " data bytes");
    }
    return entry;
  }

  public Path path() {
    return path;
  }

  /** Header entries by tensor name, in file order. */
  public Map<String, TensorEntry> entries() {
    return entries;
  }

  /** Maps one tensor's bytes read-only, little-endian. */
  public ByteBuffer map(TensorEntry entry) {
    if (entry.byteLength() > Integer.MAX_VALUE) {
      throw CheckpointException.forTensor(
          path, entry.name(), "larger than 2 GiB, which one mapping cannot hold");
    }
    try {
      return channel
          .map(FileChannel.MapMode.READ_ONLY, dataOffset + entry.dataStart(), entry.byteLength())
          .order(ByteOrder.LITTLE_ENDIAN);
    } catch (IOException e) {
      throw CheckpointException.forTensor(path, entry.name(), "cannot map: " + e);
    }
  }

  private static void readFully(FileChannel channel, ByteBuffer buf, long position)
      throws IOException {
    long pos = position;
    while (buf.hasRemaining()) {
      int n = channel.read(buf, pos);
      if (n < 0) {
        throw new IOException("unexpected end of file at byte " + pos);
      }
      pos += n;
    }
  }

  private static void closeQuietly(FileChannel channel) {
    try {
      channel.close();
    } catch (IOException ignored) {
      // already failing with a better message
    }
  }

  @Override
  public void close() {
    closeQuietly(channel);
  }
}
