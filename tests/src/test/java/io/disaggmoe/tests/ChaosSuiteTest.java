package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * {@code disaggmoe chaos} as a user runs it: the short version (a decode instance killed under
 * load) in the normal test command, every scenario with {@code -Pchaos}. In every single-fault
 * scenario every request completes with its undisturbed greedy tokens, and so does every request of
 * a {@code bench serve} process sent beside the load, whose latencies fall in the three windows.
 * Each request names the decode instances it ran on; after a decode instance is killed, none ends
 * there.
 */
class ChaosSuiteTest {
  @Test
  void everyRequestCompletesWithItsUndisturbedTokensUnderEachFault() throws Exception {
    String scenario = System.getProperty("disaggmoe.chaos", "kill-decode");
    Process p =
        RunningSuite.disaggmoeProcess(
            "chaos",
            "--scenario",
            scenario,
            "--model",
            RunningSuite.model().toString(),
            "--seconds",
            "10",
            "--fault-after",
            "3",
            "--bench-serve",
            "--json");
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(p.waitFor(15, TimeUnit.MINUTES)).isTrue();
    String json = out.lines().filter(l -> l.startsWith("{\"scenarios\"")).findFirst().orElse(null);
    assertThat(json).as("disaggmoe chaos printed its JSON; it printed:%n%s", out).isNotNull();
    JsonNode scenarios = new ObjectMapper().readTree(json).get("scenarios");
    assertThat(scenarios).isNotEmpty();
    for (JsonNode s : scenarios) {
      String name = s.get("scenario").asText();
      assertThat(s.get("requests").asInt()).as("%s requests", name).isPositive();
      assertThat(s.get("completed").asInt())
          .as("%s completed; failures: %s", name, s.get("failures"))
          .isEqualTo(s.get("requests").asInt());
      assertThat(s.get("failed").asInt()).as("%s failed", name).isZero();
      assertThat(s.get("tokens_lost").asInt()).as("%s tokens lost", name).isZero();
      assertThat(s.get("tokens_repeated").asInt()).as("%s tokens repeated", name).isZero();
      assertThat(s.get("wrong_outputs").asInt()).as("%s wrong outputs", name).isZero();
      assertThat(s.get("served_again_ms").asLong()).as("%s served again", name).isNotNegative();
      JsonNode routing = s.get("routing");
      for (JsonNode r : routing.get("requests")) {
        assertThat(r.get("decodes"))
            .as("%s: the decode instances of a request, by its nvext: %s", name, r)
            .isNotEmpty();
        if (name.startsWith("kill-decode") && r.get("sent_ms").asLong() >= 0) {
          assertThat(r.get("decodes").get(r.get("decodes").size() - 1).asText())
              .as("%s: a request sent after the kill ended on the dead instance: %s", name, r)
              .isNotEqualTo(routing.get("instance").asText());
        }
      }
      JsonNode bench = s.get("bench_serve");
      assertThat(bench).as("%s: bench serve beside the load", name).isNotNull();
      assertThat(bench.get("failed").asInt())
          .as("%s: bench serve's failed requests", name)
          .isZero();
      int windowed = 0;
      for (String w : new String[] {"before", "during", "after"}) {
        windowed += bench.get(w).get("requests").asInt();
      }
      assertThat(windowed)
          .as("%s: bench serve's requests before, during and after the fault", name)
          .isEqualTo(bench.get("requests").asInt())
          .isPositive();
    }
    assertThat(p.exitValue()).as("disaggmoe chaos's exit status").isZero();
  }
}
