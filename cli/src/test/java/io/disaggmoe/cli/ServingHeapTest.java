package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;
import org.junit.jupiter.api.Test;

class ServingHeapTest {
  @Test
  void afterLoadingTheHeapKeepsSeventyPercentFree() {
    ServingHeap.afterLoading();

    HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    assertThat(vm.getVMOption("MinHeapFreeRatio").getValue()).isEqualTo("70");
    assertThat(vm.getVMOption("MaxHeapFreeRatio").getValue()).isEqualTo("90");
  }

  @Test
  void theStartRunsWithTheJvmsDefaultRatios() {
    assertThat(JvmOptions.flags()).noneMatch(f -> f.contains("HeapFreeRatio"));
  }
}
