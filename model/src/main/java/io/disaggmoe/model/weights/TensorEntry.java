package io.disaggmoe.model.weights;

import java.nio.file.Path;
import java.util.Arrays;

/**
 * One tensor's header entry in a safetensors file: where its bytes lie relative to the data
 * section.
 */
public record TensorEntry(
    Path file, String name, DType dtype, long[] shape, long dataStart, long dataEnd) {

  public long elementCount() {
    long n = 1;
    for (long d : shape) {
      n *= d;
    }
    return n;
  }

  public long byteLength() {
    return dataEnd - dataStart;
  }

  public String shapeString() {
    return Arrays.toString(shape);
  }
}
