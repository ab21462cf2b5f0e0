package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A role's first process writes its class-data archive on a clean exit and the next maps it; a
 * killed writer leaves nothing; a changed jar means another archive, and the old one goes.
 */
class ClassDataArchiveTest {
  @TempDir Path dir;
  private String before;

  @BeforeEach
  void useTempDir() {
    before = System.getProperty(ClassDataArchive.DIR_PROPERTY);
    System.setProperty(ClassDataArchive.DIR_PROPERTY, dir.toString());
  }

  @AfterEach
  void restore() {
    if (before == null) {
      System.clearProperty(ClassDataArchive.DIR_PROPERTY);
    } else {
      System.setProperty(ClassDataArchive.DIR_PROPERTY, before);
    }
  }

  /** A jar with a main class that prints and exits (javassist, a dependency of DJL). */
  private static String probeJar() throws Exception {
    return Path.of(
            Class.forName("javassist.CtClass")
                .getProtectionDomain()
                .getCodeSource()
                .getLocation()
                .toURI())
        .toString();
  }

  /** Runs the probe's main with {@code flags}; its output. */
  private static Run run(List<String> flags, String classPath) throws Exception {
    List<String> cmd = new ArrayList<>();
    cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    cmd.addAll(flags);
    cmd.addAll(List.of("-Xlog:class+load=info", "-cp", classPath, "javassist.CtClass"));
    Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    return new Run(p.exitValue(), out);
  }

  record Run(int exitCode, String output) {
    boolean mappedFromArchive() {
      return output
          .lines()
          .anyMatch(l -> l.contains("javassist.CtClass source: shared objects file (top)"));
    }
  }

  @Test
  void theFirstProcessWritesTheArchiveAndTheNextMapsIt() throws Exception {
    String cp = probeJar();
    ClassDataArchive.Use first = ClassDataArchive.forRole("probe", cp);
    assertThat(first).isInstanceOf(ClassDataArchive.Write.class);
    assertThat(ClassDataArchive.forRole("probe", cp))
        .as("a second process while the first writes")
        .isInstanceOf(ClassDataArchive.None.class);

    Run written = run(first.flags(), cp);
    assertThat(written.exitCode()).as(written.output()).isZero();
    assertThat(written.mappedFromArchive()).isFalse();
    first.exited(written.exitCode());

    ClassDataArchive.Use next = ClassDataArchive.forRole("probe", cp);
    assertThat(next).isInstanceOf(ClassDataArchive.Read.class);
    Run read = run(next.flags(), cp);
    assertThat(read.exitCode()).as(read.output()).isZero();
    assertThat(read.mappedFromArchive()).as("mapped from the archive:%n%s", read.output()).isTrue();
    try (var files = Files.list(dir)) {
      assertThat(files.map(f -> f.getFileName().toString()))
          .as("only the archive, no temporary file")
          .containsExactly(((ClassDataArchive.Read) next).archive().getFileName().toString());
    }
  }

  @Test
  void aKilledWriterLeavesNoArchive() throws Exception {
    String cp = probeJar();
    ClassDataArchive.Use first = ClassDataArchive.forRole("probe", cp);
    Path temporary = ((ClassDataArchive.Write) first).temporary();
    Files.writeString(temporary, "half an archive");
    first.exited(137);
    assertThat(Files.exists(temporary)).isFalse();
    assertThat(ClassDataArchive.forRole("probe", cp))
        .as("the next process writes it again")
        .isInstanceOf(ClassDataArchive.Write.class);
  }

  @Test
  void aChangedJarGetsItsOwnArchiveAndTheOldOneGoes() throws Exception {
    Path jar = dir.resolve("lib").resolve("probe.jar");
    Files.createDirectories(jar.getParent());
    Files.copy(Path.of(probeJar()), jar);
    String cp = jar.toString();
    ClassDataArchive.Write old = (ClassDataArchive.Write) ClassDataArchive.forRole("probe", cp);
    Files.writeString(old.temporary(), "an archive");
    old.exited(143);
    assertThat(old.archive()).exists();
    ClassDataArchive.Write other = (ClassDataArchive.Write) ClassDataArchive.forRole("other", cp);
    Files.writeString(other.temporary(), "another role's archive");
    other.exited(0);

    Files.setLastModifiedTime(jar, FileTime.fromMillis(System.currentTimeMillis() + 5_000));
    ClassDataArchive.Use rebuilt = ClassDataArchive.forRole("probe", cp);
    assertThat(rebuilt).isInstanceOf(ClassDataArchive.Write.class);
    ClassDataArchive.Write fresh = (ClassDataArchive.Write) rebuilt;
    assertThat(fresh.archive()).isNotEqualTo(old.archive());
    Files.writeString(fresh.temporary(), "the rebuilt jar's archive");
    fresh.exited(0);
    assertThat(old.archive()).as("the old jar's archive").doesNotExist();
    assertThat(other.archive()).as("another role's archive").exists();
  }

  @Test
  void aDirectoryOnTheClassPathMeansNoArchive() throws Exception {
    String cp = probeJar() + File.pathSeparator + dir;
    assertThat(ClassDataArchive.forRole("probe", cp)).isInstanceOf(ClassDataArchive.None.class);
    System.setProperty(ClassDataArchive.DIR_PROPERTY, "off");
    assertThat(ClassDataArchive.forRole("probe", probeJar()))
        .isInstanceOf(ClassDataArchive.None.class);
  }

  @Test
  void aMissingEntryIsNoJar() throws IOException {
    assertThat(ClassDataArchive.allJars(dir.resolve("gone.jar").toString())).isFalse();
  }
}
