package io.disaggmoe.expert.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

/** The nice value the kernel reports for a thread before and after it lowers itself. */
class ThreadNicenessTest {
  /** Field 19 of /proc/thread-self/stat; the command name (field 2) may hold spaces. */
  private static int niceOfThisThread() throws Exception {
    String stat = Files.readString(Path.of("/proc/thread-self/stat"));
    String[] after = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Integer.parseInt(after[16]);
  }

  @Test
  void aThreadLowersItsOwnPriorityAndNoOtherThreads() throws Exception {
    AtomicIntegerArray nice = new AtomicIntegerArray(2);
    int mine = niceOfThisThread();
    Thread t =
        Thread.ofPlatform()
            .start(
                () -> {
                  try {
                    nice.set(0, niceOfThisThread());
                    ThreadNiceness.lowerCurrentThread(7);
                    nice.set(1, niceOfThisThread());
                  } catch (Exception e) {
                    throw new IllegalStateException(e);
                  }
                });
    t.join();
    assertThat(nice.get(1)).as("nice after lowering by 7").isEqualTo(Math.min(19, nice.get(0) + 7));
    assertThat(niceOfThisThread()).as("the calling test thread").isEqualTo(mine);
  }

  @Test
  void anIncrementOutside0To19IsRefused() {
    assertThatThrownBy(() -> ThreadNiceness.lowerCurrentThread(20))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("0..19");
  }
}
