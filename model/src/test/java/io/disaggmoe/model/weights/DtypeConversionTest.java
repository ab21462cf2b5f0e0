package io.disaggmoe.model.weights;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.weights.SafetensorsWriter.PendingTensor;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** BF16 and F16 tensors read back as the float32 values they encode. */
class DtypeConversionTest {
  @TempDir Path tmp;

  @Test
  void halfPrecisionTensorsWidenExactly() throws Exception {
    float[] values = {1.0f, -2.5f, 0.15625f, 65504f, -0.0f, 3.0517578e-5f};
    SafetensorsWriter.write(
        tmp.resolve("half.safetensors"),
        List.of(
            new PendingTensor(
                "f16",
                DType.F16,
                new long[] {2, 3},
                b -> {
                  for (float v : values) {
                    b.putShort(Float.floatToFloat16(v));
                  }
                }),
            new PendingTensor(
                "bf16",
                DType.BF16,
                new long[] {6},
                b -> {
                  for (float v : values) {
                    b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
                  }
                })));
    try (Checkpoint c = Checkpoint.open(tmp, null)) {
      assertThat(c.readFloats("f16", 2, 3)).containsExactly(values);
      float[] bf16 = c.readFloats("bf16", 6);
      for (int i = 0; i < values.length; i++) {
        float truncated = Float.intBitsToFloat(Float.floatToRawIntBits(values[i]) & 0xFFFF0000);
        assertThat(bf16[i]).as("bf16 element %d", i).isEqualTo(truncated);
      }
    }
  }

  @Test
  void f16WeightsLoadForTheKernelsAndAnInfiniteOneIsNamed() throws Exception {
    float[] values = {1.0f, -2.5f, 0.15625f, 65504f, -0.0f, 3.0517578e-5f, 6e-8f, -7.5f};
    SafetensorsWriter.write(
        tmp.resolve("f16.safetensors"),
        List.of(
            f16("even", new long[] {2, 4}, values),
            f16("odd", new long[] {4, 2}, values),
            f16("narrow", new long[] {2, 3}, java.util.Arrays.copyOf(values, 6)),
            f16(
                "infinite",
                new long[] {2, 4},
                new float[] {0, 0, 0, 0, 0, Float.NEGATIVE_INFINITY, 0, 0})));
    try (Checkpoint c = Checkpoint.open(tmp, null)) {
      // Even widths are read as column pairs straight from the file, an odd one value by value.
      String[] names = {"even", "odd", "narrow"};
      int[][] shapes = {{2, 4}, {4, 2}, {2, 3}};
      for (int t = 0; t < names.length; t++) {
        io.disaggmoe.model.kernel.WeightMatrix w = c.weight(names[t], shapes[t][0], shapes[t][1]);
        for (int i = 0; i < w.rows() * w.cols(); i++) {
          assertThat(w.get(i / w.cols(), i % w.cols()))
              .as("%s element %d", names[t], i)
              .isEqualTo(Float.float16ToFloat(Float.floatToFloat16(values[i])));
        }
      }
      org.assertj.core.api.Assertions.assertThatThrownBy(() -> c.weight("infinite", 2, 4))
          .isInstanceOf(CheckpointException.class)
          .hasMessageContaining("f16.safetensors")
          .hasMessageContaining("tensor 'infinite'")
          .hasMessageContaining("the F16 value at [1, 1] is infinite or NaN");
    }
  }

  private static PendingTensor f16(String name, long[] shape, float[] values) {
    return new PendingTensor(
        name,
        DType.F16,
        shape,
        b -> {
          for (float v : values) {
            b.putShort(Float.floatToFloat16(v));
          }
        });
  }
}
