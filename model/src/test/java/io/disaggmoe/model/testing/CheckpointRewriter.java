package io.disaggmoe.model.testing;

import io.disaggmoe.model.weights.SafetensorsFile;
import io.disaggmoe.model.weights.SafetensorsWriter;
import io.disaggmoe.model.weights.SafetensorsWriter.PendingTensor;
import io.disaggmoe.model.weights.TensorEntry;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/** Writes edited copies of a single-file checkpoint, to build broken or partial ones in tests. */
public final class CheckpointRewriter {
  private CheckpointRewriter() {}

  /**
   * Copies {@code src}'s config.json into {@code dst} and writes its tensors there after {@code
   * edit} has changed the list (removed, replaced or added tensors).
   */
  public static Path rewrite(Path src, Path dst, Consumer<List<PendingTensor>> edit)
      throws Exception {
    Files.createDirectories(dst);
    Files.copy(src.resolve("config.json"), dst.resolve("config.json"));
    List<PendingTensor> tensors = new ArrayList<>();
    try (SafetensorsFile f = SafetensorsFile.open(src.resolve("model.safetensors"))) {
      for (TensorEntry e : f.entries().values()) {
        ByteBuffer copy = ByteBuffer.allocate((int) e.byteLength());
        copy.put(f.map(e)).flip();
        tensors.add(PendingTensor.of(e.name(), e.dtype(), e.shape(), copy));
      }
    }
    edit.accept(tensors);
    SafetensorsWriter.write(dst.resolve("model.safetensors"), tensors);
    return dst;
  }
}
