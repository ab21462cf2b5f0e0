package io.disaggmoe.model;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.testing.GoldenCase;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The model id follows the checkpoint's configuration and weights, not only its directory. */
class ModelIdentityTest {
  @Test
  void aCopyKeepsItsIdAndChangedWeightsOfTheSameNameDoNot(@TempDir Path tmp) throws IOException {
    Path golden = GoldenCase.named("v3-tiny").dir();
    Path copy = copy(golden, tmp.resolve("a").resolve(golden.getFileName().toString()));
    assertThat(ModelIdentity.of(copy)).isEqualTo(ModelIdentity.of(golden));

    // Same directory name, same config.json, one safetensors file one byte longer.
    Path other = copy(golden, tmp.resolve("b").resolve(golden.getFileName().toString()));
    Path weights;
    try (Stream<Path> files = Files.list(other)) {
      weights = files.filter(f -> f.toString().endsWith(".safetensors")).findFirst().orElseThrow();
    }
    try (RandomAccessFile f = new RandomAccessFile(weights.toFile(), "rw")) {
      f.setLength(f.length() + 1);
    }
    assertThat(ModelIdentity.of(other))
        .as("id of a checkpoint whose weights differ in size")
        .isNotEqualTo(ModelIdentity.of(golden));
  }

  private static Path copy(Path from, Path to) throws IOException {
    Files.createDirectories(to);
    try (Stream<Path> files = Files.list(from)) {
      for (Path f : files.filter(Files::isRegularFile).toList()) {
        Files.copy(f, to.resolve(f.getFileName()));
      }
    }
    return to;
  }
}
