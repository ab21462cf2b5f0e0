package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class JvmOptionsTest {
  @Test
  void commentsAndBlankLinesAreDropped() {
    assertThat(JvmOptions.parse("# why\n-Xa -Xb # why not\n\n  -Xc\r\n#-Xd\n"))
        .containsExactly("-Xa", "-Xb", "-Xc");
  }

  @Test
  void theSharedFileHoldsOnlyFlags() {
    assertThat(JvmOptions.flags())
        .contains(
            "--add-modules=jdk.incubator.vector",
            "-Dai.djl.offline=true",
            "-XX:G1HeapRegionSize=16m",
            "-XX:MaxNewSize=256m")
        .allSatisfy(flag -> assertThat(flag).startsWith("-"));
  }

  @Test
  void theLauncherAndTheImagePassTheSameFile() throws Exception {
    Path root = Path.of("..").toAbsolutePath().normalize();
    String resource = "io/disaggmoe/cli/" + JvmOptions.RESOURCE;
    assertThat(root.resolve("cli/src/main/resources").resolve(resource)).isRegularFile();
    assertThat(Files.readString(root.resolve("disaggmoe")))
        .contains("cli/src/main/resources/" + resource);
    assertThat(Files.readString(root.resolve("cli/pom.xml")))
        .contains("<jvmFlag>@/app/resources/" + resource + "</jvmFlag>");
  }
}
