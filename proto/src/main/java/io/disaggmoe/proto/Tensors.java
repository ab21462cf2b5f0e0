package io.disaggmoe.proto;

import com.google.protobuf.ByteString;
import com.google.protobuf.UnsafeByteOperations;
import io.disaggmoe.proto.v1.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Arrays;

/**
 * Java arrays to and from wire {@link Tensor}s. Decoding checks dtype, shape and data length and
 * throws {@link IllegalArgumentException} naming the tensor, so a malformed message becomes a clear
 * INVALID_ARGUMENT, never a misread buffer.
 */
public final class Tensors {
  private Tensors() {}

  public static Tensor f32(float[] values, long... shape) {
    checkCount(values.length, shape);
    return tensor("F32", f32Bytes(values), shape);
  }

  /** F32 values as the wire carries them: little-endian bytes. */
  public static byte[] f32Bytes(float[] values) {
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(values);
    return b.array();
  }

  /** The inverse of {@link #f32Bytes}; {@code bytes.length} is a multiple of 4. */
  public static float[] f32Values(byte[] bytes) {
    float[] out = new float[bytes.length / 4];
    ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /**
   * Rows {@code rows} of {@code values} ({@code [*, dim]}), as a {@code [rows.length, dim]} tensor.
   */
  public static Tensor f32Rows(float[] values, int dim, int[] rows) {
    ByteBuffer b = ByteBuffer.allocate(rows.length * dim * 4).order(ByteOrder.LITTLE_ENDIAN);
    FloatBuffer f = b.asFloatBuffer();
    for (int r : rows) {
      f.put(values, r * dim, dim);
    }
    return tensor("F32", b.array(), new long[] {rows.length, dim});
  }

  /**
   * An F32 tensor whose data are the first {@code length} bytes of {@code data}, little-endian,
   * shared rather than copied: {@code data} must not change until the message is written.
   */
  public static Tensor f32Sharing(byte[] data, int length, long... shape) {
    checkCount(length / 4, shape);
    return tensor("F32", UnsafeByteOperations.unsafeWrap(data, 0, length), shape);
  }

  public static Tensor i32(int[] values, long... shape) {
    checkCount(values.length, shape);
    ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asIntBuffer().put(values);
    return tensor("I32", b.array(), shape);
  }

  private static Tensor tensor(String dtype, byte[] data, long[] shape) {
    // The array is not touched again, so the message may share it instead of copying it.
    return tensor(dtype, UnsafeByteOperations.unsafeWrap(data), shape);
  }

  private static Tensor tensor(String dtype, ByteString data, long[] shape) {
    return Tensor.newBuilder()
        .setDtype(dtype)
        .addAllShape(Arrays.stream(shape).boxed().toList())
        .setData(data)
        .build();
  }

  /** The values of an F32 tensor of rank {@code rank}; {@link #dim} reads its shape afterwards. */
  public static float[] toF32(Tensor t, String name, int rank) {
    int n = checked(t, name, "F32", rank);
    float[] out = new float[n];
    t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(out);
    return out;
  }

  /**
   * The checked little-endian bytes of an F32 tensor of rank {@code rank}, positions 0 to limit: a
   * view rather than a copy, valid as long as the message is.
   */
  public static ByteBuffer f32Data(Tensor t, String name, int rank) {
    checked(t, name, "F32", rank);
    // A slice, so that index 0 is the first value even when the bytes alias a larger message.
    return t.getData().asReadOnlyByteBuffer().slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  public static int[] toI32(Tensor t, String name, int rank) {
    int n = checked(t, name, "I32", rank);
    int[] out = new int[n];
    t.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN).asIntBuffer().get(out);
    return out;
  }

  public static int dim(Tensor t, int axis) {
    return (int) t.getShape(axis);
  }

  private static int checked(Tensor t, String name, String dtype, int rank) {
    if (!t.getDtype().equals(dtype)) {
      throw new IllegalArgumentException(
          name + ": dtype is '" + t.getDtype() + "', expected " + dtype);
    }
    if (t.getShapeCount() != rank) {
      throw new IllegalArgumentException(
          name
              + ": shape "
              + t.getShapeList()
              + " has rank "
              + t.getShapeCount()
              + ", expected "
              + rank);
    }
    long count = 1;
    for (long d : t.getShapeList()) {
      if (d < 0) {
        throw new IllegalArgumentException(name + ": shape " + t.getShapeList() + " is negative");
      }
      count *= d;
      if (count > Integer.MAX_VALUE / 4) {
        throw new IllegalArgumentException(name + ": shape " + t.getShapeList() + " is too large");
      }
    }
    if (t.getData().size() != count * 4) {
      throw new IllegalArgumentException(
          name
              + ": "
              + t.getData().size()
              + " data bytes, but "
              + dtype
              + " "
              + t.getShapeList()
              + " needs "
              + count * 4);
    }
    return (int) count;
  }

  private static void checkCount(int length, long[] shape) {
    long count = 1;
    for (long d : shape) {
      count *= d;
    }
    if (count != length) {
      throw new IllegalArgumentException(
          length + " values do not fill shape " + Arrays.toString(shape));
    }
  }
}
