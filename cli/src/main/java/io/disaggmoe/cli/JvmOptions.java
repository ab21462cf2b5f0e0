package io.disaggmoe.cli;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The JVM flags every disaggmoe process shares, from {@code jvm.options} beside this class: the
 * file that {@code ./disaggmoe} and the image pass to {@code java} as an argument file, read here
 * for the processes this one starts. Read as the launcher reads an argument file without quotes:
 * {@code #} to the end of a line is a comment, and whitespace separates the flags. Public for the
 * end-to-end tests, which start {@code disaggmoe} as the launcher does.
 */
public final class JvmOptions {
  static final String RESOURCE = "jvm.options";

  private JvmOptions() {}

  /** The flags, read once: every child start needs them, for its command line and its archive. */
  public static List<String> flags() {
    return Read.FLAGS;
  }

  /**
   * {@code disaggmoe} in a new JVM, without its arguments: this JVM's {@code java}, the {@link
   * #flags}, {@code extraFlags}, and the main class on {@code classPath}.
   */
  public static List<String> javaCommand(String classPath, String... extraFlags) {
    String java =
        ProcessHandle.current()
            .info()
            .command()
            .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    List<String> cmd = new ArrayList<>();
    cmd.add(java);
    cmd.addAll(flags());
    cmd.addAll(List.of(extraFlags));
    cmd.addAll(List.of("-cp", classPath, Main.class.getName()));
    return List.copyOf(cmd);
  }

  private static final class Read {
    static final List<String> FLAGS = read();
  }

  private static List<String> read() {
    try (InputStream in = JvmOptions.class.getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(
            RESOURCE + " is missing from the class path beside " + JvmOptions.class.getName());
      }
      return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
    } catch (IOException e) {
      throw new UncheckedIOException("could not read " + RESOURCE, e);
    }
  }

  static List<String> parse(String text) {
    List<String> flags = new ArrayList<>();
    for (String line : text.split("\\R")) {
      int comment = line.indexOf('#');
      String kept = comment < 0 ? line : line.substring(0, comment);
      for (String flag : kept.strip().split("\\s+")) {
        if (!flag.isEmpty()) {
          flags.add(flag);
        }
      }
    }
    return List.copyOf(flags);
  }
}
