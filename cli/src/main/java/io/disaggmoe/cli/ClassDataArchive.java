package io.disaggmoe.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The class-data-sharing archive of one service role ({@code serve attention}, {@code serve
 * expert}, ...), which the service processes this JVM starts map instead of loading and verifying
 * the same Spring, gRPC and Netty classes again: a tiny model's {@code up --processes} took 72-76 s
 * of user CPU to be ready against 93-109 without (ready in 43-52 s against 54-76; five alternated
 * pairs of runs), and a control plane alone was ready in 2.6 s against 4.3.
 *
 * <p>The first process of a role writes the archive when it exits ({@code
 * -XX:ArchiveClassesAtExit}, a dynamic archive on top of the JDK's own, JDK 13+), to a file of its
 * own that is moved into place only after a clean exit, so a reader never maps a half-written one
 * and two suites starting at once never write into each other's file. The archive's name carries a
 * fingerprint of the JDK and of every class path entry (path, size, time), so a rebuilt jar or
 * another JDK never meets an archive made from the old one; archives of other fingerprints are
 * removed when a new one is written. Only where the class path is all jars: the JVM archives no
 * class from a directory and refuses to dump with one on the path (as in Maven's test runs of a
 * module, whose own classes are a directory).
 */
final class ClassDataArchive {
  private static final System.Logger LOG = System.getLogger(ClassDataArchive.class.getName());

  /**
   * Where archives live unless {@code -Ddisaggmoe.cds.dir} says otherwise; "off" turns them off.
   */
  static final String DIR_PROPERTY = "disaggmoe.cds.dir";

  // Leftovers of writers whose parent died before moving them into place.
  private static final Duration ABANDONED = Duration.ofMinutes(30);

  // Archives a process of this JVM is writing now: one writer per archive.
  private static final Set<Path> WRITING = ConcurrentHashMap.newKeySet();

  /** What a child process does with its role's archive. */
  sealed interface Use {
    /** The JVM flags that say it. */
    List<String> flags();

    /** After the process exited with {@code exitCode}: keep what it wrote, or drop it. */
    default void exited(int exitCode) {}
  }

  /** No archive: the class path holds a directory, or archives are off. */
  record None() implements Use {
    @Override
    public List<String> flags() {
      return List.of();
    }
  }

  /** Maps the archive that exists. */
  record Read(Path archive) implements Use {
    @Override
    public List<String> flags() {
      return List.of("-XX:SharedArchiveFile=" + archive);
    }
  }

  /**
   * Writes the archive at exit into {@code temporary}, moved to {@code archive} after a clean exit.
   */
  record Write(Path archive, Path temporary) implements Use {
    @Override
    public List<String> flags() {
      return List.of("-XX:ArchiveClassesAtExit=" + temporary);
    }

    @Override
    public void exited(int exitCode) {
      try {
        // 143: SIGTERM, how services are stopped; the JVM dumps before it exits either way.
        if ((exitCode == 0 || exitCode == 143) && Files.size(temporary) > 0) {
          move(temporary, archive);
          removeOthers(archive);
        }
      } catch (IOException e) {
        LOG.log(System.Logger.Level.DEBUG, "no class-data archive at " + archive, e);
      } finally {
        WRITING.remove(archive);
        try {
          Files.deleteIfExists(temporary);
        } catch (IOException e) {
          LOG.log(System.Logger.Level.DEBUG, "could not remove " + temporary, e);
        }
      }
    }
  }

  private ClassDataArchive() {}

  /** The archive use of a new process of {@code role} on {@code classPath}. */
  static Use forRole(String role, String classPath) {
    Path dir = directory();
    if (dir == null || !allJars(classPath)) {
      return new None();
    }
    try {
      Files.createDirectories(dir);
      Path archive = dir.resolve(role + "-" + fingerprint(classPath) + ".jsa");
      if (Files.isRegularFile(archive)) {
        return new Read(archive);
      }
      if (!WRITING.add(archive)) {
        return new None();
      }
      removeAbandoned(dir);
      return new Write(
          archive,
          dir.resolve(
              archive.getFileName()
                  + "."
                  + ProcessHandle.current().pid()
                  + "-"
                  + System.nanoTime()
                  + ".tmp"));
    } catch (IOException | UncheckedIOException e) {
      LOG.log(System.Logger.Level.DEBUG, "class-data archives are off: " + e.getMessage(), e);
      return new None();
    }
  }

  /**
   * Fault injection for the launcher's test: with {@value #CRASH_ENV} set, a service JVM that is
   * writing an archive ends as a JVM that crashed doing so ends (exit status 134, SIGABRT), as JDK
   * 25 once did; one that writes none starts normally.
   */
  static void crashWhileWritingIfAsked() {
    if (System.getenv(CRASH_ENV) != null
        && java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
            .anyMatch(a -> a.startsWith("-XX:ArchiveClassesAtExit"))) {
      Runtime.getRuntime().halt(134);
    }
  }

  static final String CRASH_ENV = "DISAGGMOE_FAULT_CRASH_WHILE_ARCHIVING";

  /** {@code -Ddisaggmoe.cds.dir}, else the user's cache; null when off. */
  static Path directory() {
    String configured = System.getProperty(DIR_PROPERTY);
    if ("off".equals(configured)) {
      return null;
    }
    if (configured != null && !configured.isBlank()) {
      return Path.of(configured);
    }
    String cache = System.getenv("XDG_CACHE_HOME");
    Path base =
        cache != null && !cache.isBlank()
            ? Path.of(cache)
            : Path.of(System.getProperty("user.home"), ".cache");
    return base.resolve("disaggmoe").resolve("cds");
  }

  static boolean allJars(String classPath) {
    for (String entry : classPath.split(java.io.File.pathSeparator)) {
      if (!entry.isEmpty() && !(entry.endsWith(".jar") && Files.isRegularFile(Path.of(entry)))) {
        return false;
      }
    }
    return !classPath.isBlank();
  }

  /** The JDK and every class path entry's path, size and modification time. */
  static String fingerprint(String classPath) {
    MessageDigest sha;
    try {
      sha = MessageDigest.getInstance("SHA-256");
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
    update(sha, System.getProperty("java.home"));
    update(sha, System.getProperty("java.vm.version"));
    update(sha, String.join(" ", JvmOptions.flags()));
    for (String entry : classPath.split(java.io.File.pathSeparator)) {
      try {
        BasicFileAttributes a = Files.readAttributes(Path.of(entry), BasicFileAttributes.class);
        update(sha, entry + " " + a.size() + " " + a.lastModifiedTime().toMillis());
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
    return HexFormat.of().formatHex(sha.digest(), 0, 8);
  }

  private static void update(MessageDigest sha, String s) {
    sha.update(s.getBytes(StandardCharsets.UTF_8));
    sha.update((byte) 0);
  }

  private static void move(Path from, Path to) throws IOException {
    try {
      Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    } catch (AtomicMoveNotSupportedException e) {
      Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
    }
  }

  /** The role's archives of other fingerprints: made from jars or a JDK no longer there. */
  private static void removeOthers(Path archive) throws IOException {
    String name = archive.getFileName().toString();
    String role = name.substring(0, name.lastIndexOf('-'));
    try (DirectoryStream<Path> all =
        Files.newDirectoryStream(archive.getParent(), role + "-*.jsa")) {
      for (Path p : all) {
        String other = p.getFileName().toString();
        // Only this role's: "expert-<16 hex>.jsa", never another role whose name starts alike.
        if (!p.equals(archive) && other.length() == name.length()) {
          Files.deleteIfExists(p);
        }
      }
    }
  }

  private static void removeAbandoned(Path dir) throws IOException {
    Instant before = Instant.now().minus(ABANDONED);
    try (DirectoryStream<Path> all = Files.newDirectoryStream(dir, "*.tmp")) {
      for (Path p : all) {
        if (Files.getLastModifiedTime(p).toInstant().isBefore(before)) {
          Files.deleteIfExists(p);
        }
      }
    }
  }
}
