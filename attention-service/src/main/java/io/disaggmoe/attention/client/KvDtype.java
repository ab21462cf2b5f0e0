package io.disaggmoe.attention.client;

import com.google.protobuf.ByteString;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.ShortBuffer;
import java.util.Locale;

/**
 * How latent cache values travel to and rest in kv-cache-service. The model computes in float32
 * either way: F32 keeps every bit, BF16 halves the bytes moved and stored at the cost of rounding
 * each value to 8 significant bits.
 */
public enum KvDtype {
  F32(4),
  BF16(2);

  private static final int SLICE = 4096;

  private final int bytes;

  KvDtype(int bytes) {
    this.bytes = bytes;
  }

  public int bytesPerValue() {
    return bytes;
  }

  /** The safetensors dtype name a block's header carries. */
  public String safetensorsName() {
    return name();
  }

  /** {@code f32} or {@code bf16}, any case. */
  public static KvDtype parse(String s) {
    return switch (s.toLowerCase(Locale.ROOT)) {
      case "f32", "float32" -> F32;
      case "bf16", "bfloat16" -> BF16;
      default -> throw new IllegalArgumentException("kv dtype " + s + " is not one of f32, bf16");
    };
  }

  /** The dtype a block header names, or null for one this side cannot read. */
  static KvDtype ofHeader(String safetensorsName) {
    return switch (safetensorsName) {
      case "F32" -> F32;
      case "BF16" -> BF16;
      default -> null;
    };
  }

  /** {@code values} as little-endian bytes of this dtype (BF16 rounds to nearest even). */
  public byte[] encode(float[] values) {
    byte[] out = new byte[values.length * bytes];
    encode(values, out);
    return out;
  }

  /**
   * Encodes {@code values} into the first {@code values.length * bytesPerValue()} of {@code to}.
   */
  public void encode(float[] values, byte[] to) {
    encode(values, ByteBuffer.wrap(to, 0, values.length * bytes));
  }

  /** Encodes {@code values} at {@code to}'s position, which advances past them. */
  public void encode(float[] values, ByteBuffer to) {
    ByteBuffer out = to.slice().order(ByteOrder.LITTLE_ENDIAN);
    if (this == F32) {
      // A bulk copy on little-endian hosts.
      out.asFloatBuffer().put(values);
    } else {
      // Converted a slice at a time in an array (a loop the JIT vectorizes), then copied in bulk.
      ShortBuffer shorts = out.asShortBuffer();
      short[] slice = new short[Math.min(SLICE, values.length)];
      for (int from = 0; from < values.length; from += slice.length) {
        int n = Math.min(slice.length, values.length - from);
        for (int i = 0; i < n; i++) {
          slice[i] = toBf16(values[from + i]);
        }
        shorts.put(slice, 0, n);
      }
    }
    to.position(to.position() + values.length * bytes);
  }

  /**
   * Decodes {@code piece} (a whole number of values) into {@code out} from value {@code at}. A
   * piece that arrived in one array is read in place, with no intermediate copy.
   */
  public void decode(ByteString piece, float[] out, int at) {
    decode(piece.asReadOnlyByteBuffer(), out, at);
  }

  /**
   * Decodes the remaining bytes of {@code in} (a whole number of values) into {@code out} from
   * {@code at}.
   */
  public void decode(ByteBuffer in, float[] out, int at) {
    ByteBuffer b = in.slice().order(ByteOrder.LITTLE_ENDIAN);
    int n = b.remaining() / bytes;
    if (this == F32) {
      b.asFloatBuffer().get(out, at, n);
    } else {
      ShortBuffer shorts = b.asShortBuffer();
      short[] slice = new short[Math.min(SLICE, n)];
      for (int from = 0; from < n; from += slice.length) {
        int m = Math.min(slice.length, n - from);
        shorts.get(slice, 0, m);
        for (int i = 0; i < m; i++) {
          out[at + from + i] = Float.intBitsToFloat((slice[i] & 0xffff) << 16);
        }
      }
    }
  }

  static short toBf16(float v) {
    int bits = Float.floatToRawIntBits(v);
    if (Float.isNaN(v)) {
      // Keep it a NaN whatever its payload: truncation alone could make it infinite.
      return (short) ((bits >>> 16) | 0x40);
    }
    int roundingBias = 0x7fff + ((bits >>> 16) & 1);
    return (short) ((bits + roundingBias) >>> 16);
  }
}
