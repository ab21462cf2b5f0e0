package io.disaggmoe.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ChaosScenarioTest {
  @Test
  void onlyKillsOfPrefillOrDecodeStrikeAnInstanceTheGatewaysRouteTo() {
    assertThat(Arrays.stream(ChaosScenario.values()).filter(ChaosScenario::strikesAttention))
        .containsExactly(ChaosScenario.KILL_DECODE, ChaosScenario.KILL_PREFILL);
  }

  @Test
  void onlyTheDecodeKillPicksItsVictimAtTheFault() {
    assertThat(Arrays.stream(ChaosScenario.values()).filter(ChaosScenario::killsTheBusiest))
        .containsExactly(ChaosScenario.KILL_DECODE);
  }
}
