package io.disaggmoe.model.weights;

/** Element types of safetensors files that the model reads or writes. */
public enum DType {
  F32(4),
  F16(2),
  BF16(2),
  F8_E4M3(1),
  I64(8),
  I32(4),
  U8(1);

  private final int bytes;

  DType(int bytes) {
    this.bytes = bytes;
  }

  /** Bytes per element. */
  public int bytes() {
    return bytes;
  }

  /** The dtype for a safetensors header name, or null when this library cannot read it. */
  public static DType fromHeader(String name) {
    for (DType t : values()) {
      if (t.name().equals(name)) {
        return t;
      }
    }
    return null;
  }
}
