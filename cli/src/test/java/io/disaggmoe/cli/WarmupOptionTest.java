package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class WarmupOptionTest {
  @Test
  void readsDurationsAsSpringDoes() {
    assertThat(ServeAttentionCommand.warmupDuration("20s")).isEqualTo(Duration.ofSeconds(20));
    assertThat(ServeAttentionCommand.warmupDuration("500ms")).isEqualTo(Duration.ofMillis(500));
    assertThat(ServeAttentionCommand.warmupDuration("PT1M")).isEqualTo(Duration.ofMinutes(1));
    assertThat(ServeAttentionCommand.warmupDuration("0s")).isZero();
  }

  @Test
  void aProcessWithAWarmUpGetsThatMuchLongerToStart() {
    assertThat(ServiceProcess.warmupOf(List.of("attention", "--warmup", "PT20S", "--port", "0")))
        .isEqualTo(Duration.ofSeconds(20));
    assertThat(ServiceProcess.warmupOf(List.of("attention", "--warmup=1m")))
        .isEqualTo(Duration.ofMinutes(1));
    assertThat(ServiceProcess.warmupOf(List.of("expert", "--pool", "0/2"))).isZero();
  }

  @Test
  void refusesWhatIsNotADurationOrIsNegative() {
    assertThatThrownBy(() -> ServeAttentionCommand.warmupDuration("soon"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--warmup: not a duration: soon");
    assertThatThrownBy(() -> ServeAttentionCommand.warmupDuration("-5s"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessage("--warmup must not be negative, got -5s");
  }
}
