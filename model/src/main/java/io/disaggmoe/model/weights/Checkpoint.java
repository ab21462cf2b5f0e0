package io.disaggmoe.model.weights;

import io.disaggmoe.model.config.QuantizationConfig;
import io.disaggmoe.model.kernel.WeightMatrix;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The tensors of an HF-format checkpoint directory: one {@code *.safetensors} file, or many listed
 * by {@code model.safetensors.index.json}.
 *
 * <p>Nothing is read until asked for, so a caller loads only the tensors it needs (an expert pool
 * its experts, an attention service everything but them) and tensors nobody asks for, such as
 * multi-token-prediction layers, cost nothing. Linear weights come back in their stored dtype
 * ({@link #weight}); other tensors as float32, FP8 ones dequantised with their block-wise {@code
 * weight_scale_inv}.
 */
public final class Checkpoint implements AutoCloseable {
  private static final String INDEX = "model.safetensors.index.json";
  private static final String SCALE_SUFFIX = "_scale_inv";

  private final Path dir;
  private final Map<Path, SafetensorsFile> files;
  private final Map<String, TensorEntry> entries;
  private final int blockRows;
  private final int blockCols;

  private Checkpoint(
      Path dir,
      Map<Path, SafetensorsFile> files,
      Map<String, TensorEntry> entries,
      int br,
      int bc) {
    this.dir = dir;
    this.files = files;
    this.entries = entries;
    this.blockRows = br;
    this.blockCols = bc;
  }

  /**
   * Opens every safetensors file of {@code dir} and validates its header. {@code quantization}
   * gives the FP8 block size (128x128 when null).
   */
  public static Checkpoint open(Path dir, QuantizationConfig quantization) {
    List<Path> paths = shardPaths(dir);
    Map<Path, SafetensorsFile> files = new LinkedHashMap<>();
    Map<String, TensorEntry> entries = new HashMap<>();
    try {
      for (Path p : paths) {
        SafetensorsFile f = SafetensorsFile.open(p);
        files.put(p, f);
        for (TensorEntry e : f.entries().values()) {
          TensorEntry previous = entries.put(e.name(), e);
          if (previous != null) {
            throw CheckpointException.forTensor(
                p,
                e.name(),
                "also stored in " + previous.file() + "; a tensor must be in one file");
          }
        }
      }
    } catch (RuntimeException e) {
      files.values().forEach(SafetensorsFile::close);
      throw e;
    }
    int br = quantization == null ? 128 : quantization.blockRows();
    int bc = quantization == null ? 128 : quantization.blockCols();
    return new Checkpoint(dir, files, entries, br, bc);
  }

  private static List<Path> shardPaths(Path dir) {
    Path index = dir.resolve(INDEX);
    if (Files.isRegularFile(index)) {
      JsonNode root;
      try {
        root = JsonMapper.builder().build().readTree(index.toFile());
      } catch (JacksonException e) {
        throw CheckpointException.inFile(index, "not valid JSON: " + e.getOriginalMessage());
      }
      JsonNode map = root.path("weight_map");
      if (!map.isObject()) {
        throw CheckpointException.inFile(index, "has no weight_map object");
      }
      Set<String> names = new TreeSet<>();
      for (Map.Entry<String, JsonNode> e : map.properties()) {
        names.add(e.getValue().asString());
      }
      List<Path> paths = new ArrayList<>();
      for (String name : names) {
        Path p = dir.resolve(name);
        if (!Files.isRegularFile(p)) {
          throw CheckpointException.inFile(index, "names shard '" + name + "' which is missing");
        }
        paths.add(p);
      }
      return paths;
    }
    List<Path> paths = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.safetensors")) {
      ds.forEach(paths::add);
    } catch (IOException e) {
      throw new CheckpointException(dir + ": cannot list safetensors files: " + e);
    }
    if (paths.isEmpty()) {
      throw new CheckpointException(dir + ": no *.safetensors file and no " + INDEX);
    }
    paths.sort(null);
    return paths;
  }

  public Path dir() {
    return dir;
  }

  public boolean contains(String name) {
    return entries.containsKey(name);
  }

  /**
   * The dtypes of the checkpoint's matrices (its 2-D tensors, FP8 block scales aside): the kernels
   * a model of it multiplies with.
   */
  public Set<DType> matrixDtypes() {
    Set<DType> dtypes = EnumSet.noneOf(DType.class);
    for (TensorEntry e : entries.values()) {
      if (e.shape().length == 2 && !e.name().endsWith(SCALE_SUFFIX)) {
        dtypes.add(e.dtype());
      }
    }
    return dtypes;
  }

  /** Bytes of all tensors as stored (what a process holding every weight must at least hold). */
  public long tensorBytes() {
    long n = 0;
    for (TensorEntry e : entries.values()) {
      n += e.byteLength();
    }
    return n;
  }

  /** The header entry of {@code name}; throws naming the directory when it is absent. */
  public TensorEntry entry(String name) {
    TensorEntry e = entries.get(name);
    if (e == null) {
      throw new CheckpointException(
          dir + ": tensor '" + name + "' not found in any of " + fileNames());
    }
    return e;
  }

  /**
   * Reads {@code name} as float32 into a new native-order direct buffer, checking its shape against
   * {@code expectedShape}.
   */
  public ByteBuffer readF32(String name, long... expectedShape) {
    TensorEntry e = entry(name);
    if (!Arrays.equals(e.shape(), expectedShape)) {
      throw CheckpointException.forTensor(
          e.file(),
          name,
          "expected shape " + Arrays.toString(expectedShape) + " but found " + e.shapeString());
    }
    long count = e.elementCount();
    if (count * 4 > Integer.MAX_VALUE) {
      throw CheckpointException.forTensor(
          e.file(), name, "larger than 2 GiB as float32, which one buffer cannot hold");
    }
    ByteBuffer out = ByteBuffer.allocateDirect((int) count * 4).order(ByteOrder.nativeOrder());
    FloatBuffer dst = out.asFloatBuffer();
    ByteBuffer src = fileOf(e).map(e);
    switch (e.dtype()) {
      case F32 -> dst.put(src.asFloatBuffer());
      case BF16 -> {
        for (int i = 0; i < count; i++) {
          dst.put(i, Float.intBitsToFloat((src.getShort(2 * i) & 0xFFFF) << 16));
        }
      }
      case F16 -> {
        for (int i = 0; i < count; i++) {
          dst.put(i, Float.float16ToFloat(src.getShort(2 * i)));
        }
      }
      case F8_E4M3 -> dequantizeFp8(e, src, dst);
      default ->
          throw CheckpointException.forTensor(
              e.file(), name, "dtype " + e.dtype() + " where a float tensor was expected");
    }
    return out;
  }

  /** Reads {@code name} as float32 into an array (for tests and small tensors). */
  public float[] readFloats(String name, long... expectedShape) {
    FloatBuffer fb = readF32(name, expectedShape).asFloatBuffer();
    float[] out = new float[fb.remaining()];
    fb.get(out);
    return out;
  }

  /** Reads an I64 tensor of any shape. */
  public long[] readLongs(String name) {
    TensorEntry e = entry(name);
    if (e.dtype() != DType.I64) {
      throw CheckpointException.forTensor(
          e.file(), name, "expected dtype I64 but found " + e.dtype());
    }
    long[] out = new long[(int) e.elementCount()];
    fileOf(e).map(e).asLongBuffer().get(out);
    return out;
  }

  /**
   * Reads the 2-D weight {@code name} in its stored dtype (with its block scales when FP8),
   * checking its shape against {@code [rows, cols]}.
   */
  public WeightMatrix weight(String name, int rows, int cols) {
    TensorEntry e = entry(name);
    if (!Arrays.equals(e.shape(), new long[] {rows, cols})) {
      throw CheckpointException.forTensor(
          e.file(),
          name,
          "expected shape [" + rows + ", " + cols + "] but found " + e.shapeString());
    }
    if (e.elementCount() > Integer.MAX_VALUE - 8) {
      throw CheckpointException.forTensor(
          e.file(), name, "has more elements than one Java array can hold");
    }
    ByteBuffer src = fileOf(e).map(e);
    int count = (int) e.elementCount();
    try {
      return switch (e.dtype()) {
        case F32 -> {
          float[] v = new float[count];
          src.asFloatBuffer().get(v);
          yield WeightMatrix.ofF32(name, rows, cols, v);
        }
        case BF16, F16 -> {
          if (cols % 2 == 0) {
            // Column pairs: the file's little-endian bytes read as ints are exactly that layout.
            int[] v = new int[count / 2];
            src.asIntBuffer().get(v);
            yield e.dtype() == DType.BF16
                ? WeightMatrix.ofBf16Pairs(name, rows, cols, v)
                : WeightMatrix.ofF16Pairs(name, rows, cols, v);
          }
          short[] v = new short[count];
          src.asShortBuffer().get(v);
          yield WeightMatrix.ofHalf(name, e.dtype(), rows, cols, v);
        }
        case F8_E4M3 -> {
          float[] scales =
              readFloats(
                  scaleOf(e),
                  (rows + blockRows - 1) / blockRows,
                  (cols + blockCols - 1) / blockCols);
          if (cols % 4 == 0) {
            // Four columns to an int: the file's little-endian bytes read as ints.
            int[] v = new int[count / 4];
            src.asIntBuffer().get(v);
            yield WeightMatrix.ofFp8Quads(name, rows, cols, v, scales, blockRows, blockCols);
          }
          byte[] v = new byte[count];
          src.get(v);
          yield WeightMatrix.ofFp8(name, rows, cols, v, scales, blockRows, blockCols);
        }
        default ->
            throw CheckpointException.forTensor(
                e.file(), name, "dtype " + e.dtype() + " where a float weight was expected");
      };
    } catch (IllegalArgumentException refused) {
      // What WeightMatrix refuses (an F16 value that is not finite, say) it names after the
      // tensor; the exception names the tensor with its file.
      String why = refused.getMessage();
      String prefix = name + ": ";
      throw CheckpointException.forTensor(
          e.file(), name, why.startsWith(prefix) ? why.substring(prefix.length()) : why);
    }
  }

  private String scaleOf(TensorEntry e) {
    String scaleName = e.name() + SCALE_SUFFIX;
    if (!entries.containsKey(scaleName)) {
      throw CheckpointException.forTensor(
          e.file(), e.name(), "F8_E4M3 weight without its block scale '" + scaleName + "'");
    }
    return scaleName;
  }

  private void dequantizeFp8(TensorEntry e, ByteBuffer src, FloatBuffer dst) {
    if (e.shape().length != 2) {
      throw CheckpointException.forTensor(
          e.file(), e.name(), "F8_E4M3 tensor must be 2-D, found " + e.shapeString());
    }
    int rows = (int) e.shape()[0];
    int cols = (int) e.shape()[1];
    long scaleRows = (rows + blockRows - 1) / blockRows;
    long scaleCols = (cols + blockCols - 1) / blockCols;
    float[] scale = readFloats(scaleOf(e), scaleRows, scaleCols);
    for (int r = 0; r < rows; r++) {
      int scaleRow = (int) ((r / blockRows) * scaleCols);
      for (int c = 0; c < cols; c++) {
        int i = r * cols + c;
        dst.put(i, Fp8E4m3.toFloat(src.get(i)) * scale[scaleRow + c / blockCols]);
      }
    }
  }

  private SafetensorsFile fileOf(TensorEntry e) {
    return files.get(e.file());
  }

  private List<String> fileNames() {
    List<String> names = new ArrayList<>();
    for (Path p : files.keySet()) {
      names.add(p.getFileName().toString());
    }
    return names;
  }

  @Override
  public void close() {
    files.values().forEach(SafetensorsFile::close);
  }
}
