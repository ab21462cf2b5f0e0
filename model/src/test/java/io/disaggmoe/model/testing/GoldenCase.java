package io.disaggmoe.model.testing;

import io.disaggmoe.model.weights.Checkpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * One case of the golden data produced by DeepSeek's reference implementation (see golden/README.md
 * in the test resources): its checkpoint directory and expected tensors.
 *
 * <p>A missing fixture fails the test; golden tests never skip.
 */
public record GoldenCase(String name, Path dir) {
  public static final List<String> NAMES = List.of("v3-tiny", "v3-yarn", "v2-lite-style", "v3-fp8");

  /** Every golden case, for parameterised tests. */
  public static Stream<GoldenCase> all() {
    return NAMES.stream().map(GoldenCase::named);
  }

  /**
   * The named cases, or every case when the build runs with {@code -Ddisaggmoe.golden=all} (the
   * {@code all-golden} profile). Tests that start a process per service take about a minute per
   * case on two cores; each names one case, and their other tests use the other cases, so the
   * default run still sends every case across process boundaries.
   */
  public static Stream<GoldenCase> some(String... names) {
    if ("all".equals(System.getProperty("disaggmoe.golden"))) {
      return all();
    }
    return Stream.of(names).map(GoldenCase::named);
  }

  public static GoldenCase named(String name) {
    return new GoldenCase(name, DIRS.computeIfAbsent("golden/" + name, GoldenCase::resourceDir));
  }

  /**
   * Each case's directory, made once per JVM: every call used to make a directory of links (and,
   * from a jar, a copy of the case) that nothing removed: 7,244 of them, 4.2 GB, in one machine's
   * /tmp.
   */
  private static final Map<String, Path> DIRS = new ConcurrentHashMap<>();

  /**
   * {@code made}, deleted when the JVM exits: a directory after what it holds, since the JVM
   * deletes in the reverse of the order paths were given to it.
   */
  private static Path deletedOnExit(Path made) {
    made.toFile().deleteOnExit();
    return made;
  }

  /** The expected tensors (prompt, logits, greedy ids, routing) of this case. */
  public Checkpoint expected() {
    return Checkpoint.open(dir.resolve("golden-data"), null);
  }

  public int[] promptIds() {
    try (Checkpoint g = expected()) {
      return toInts(g.readLongs("prompt_ids"));
    }
  }

  public int[] greedyIds() {
    try (Checkpoint g = expected()) {
      return toInts(g.readLongs("greedy_ids"));
    }
  }

  public static int[] toInts(long[] values) {
    int[] out = new int[values.length];
    for (int i = 0; i < values.length; i++) {
      out[i] = Math.toIntExact(values[i]);
    }
    return out;
  }

  @Override
  public String toString() {
    return name;
  }

  /**
   * A directory on disk holding the model files and, under {@code golden-data/}, the expected
   * tensors: the resource itself when on disk, or a copy when it sits inside a jar.
   */
  private static Path resourceDir(String resource) {
    URL url = GoldenCase.class.getClassLoader().getResource(resource + "/config.json");
    if (url == null) {
      throw new IllegalStateException(
          "golden fixture " + resource + " is missing from the test resources");
    }
    try {
      URI uri = url.toURI();
      if (uri.getScheme().equals("file")) {
        return withExpectedData(Path.of(uri).getParent());
      }
      try (FileSystem jar = FileSystems.newFileSystem(uri, Map.of())) {
        Path source = jar.getPath(resource);
        Path copy = deletedOnExit(Files.createTempDirectory("golden-"));
        try (Stream<Path> files = Files.list(source)) {
          for (Path f : (Iterable<Path>) files::iterator) {
            deletedOnExit(Files.copy(f, copy.resolve(f.getFileName().toString())));
          }
        }
        return withExpectedData(copy);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * The checkpoint reader opens every safetensors file of a directory, so the expected tensors get
   * a directory of their own next to the model.
   */
  private static Path withExpectedData(Path caseDir) throws IOException {
    Path model = deletedOnExit(Files.createTempDirectory("golden-model-"));
    for (String f : List.of("config.json", "model.safetensors")) {
      deletedOnExit(
          Files.createSymbolicLink(model.resolve(f), caseDir.resolve(f).toAbsolutePath()));
    }
    Path data = deletedOnExit(Files.createDirectories(model.resolve("golden-data")));
    deletedOnExit(
        Files.createSymbolicLink(
            data.resolve("golden.safetensors"),
            caseDir.resolve("golden.safetensors").toAbsolutePath()));
    return model;
  }
}
