package io.disaggmoe.kvcache.core;

/**
 * What a stored block holds: {@code tokens x layers x width} values of {@code dtype} (a safetensors
 * dtype name), laid out {@code [layers, tokens, width]}, and the CRC32C of those bytes.
 */
public record BlockHeader(
    String modelId, String dtype, int tokens, int layers, int width, int checksum) {

  /** Bytes of the block's data, as its shape and dtype say. */
  public long dataBytes() {
    return (long) tokens * layers * width * dtypeBytes(dtype);
  }

  /** Checks what a client sent; every failure names the field. */
  public void validate() {
    if (modelId.isEmpty()) {
      throw new InvalidBlockException("header.model_id is empty");
    }
    dtypeBytes(dtype);
    if (tokens < 1 || layers < 1 || width < 1) {
      throw new InvalidBlockException(
          "header tokens, layers and width must be positive; got "
              + tokens
              + ", "
              + layers
              + ", "
              + width);
    }
  }

  static int dtypeBytes(String dtype) {
    return switch (dtype) {
      case "F32" -> 4;
      case "BF16", "F16" -> 2;
      case "F8_E4M3" -> 1;
      default ->
          throw new InvalidBlockException(
              "header.dtype " + dtype + " is not one of F32, BF16, F16, F8_E4M3");
    };
  }
}
