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
}
