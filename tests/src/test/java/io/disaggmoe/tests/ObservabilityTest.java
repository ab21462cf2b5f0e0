package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * The Grafana dashboard and the alerting rules under {@code k8s/observability/} name only metrics
 * the running services export: every stage's {@code /metrics} is read from the shared suite after a
 * request went through it.
 */
@ExtendWith(SharedSuite.class)
class ObservabilityTest {
  private static final Path DIR = Path.of("..", "k8s", "observability");
  private static final Pattern METRIC = Pattern.compile("\\b(?:vllm|disaggmoe)[:_][A-Za-z0-9_:]*");
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

  @Test
  void everyMetricThatAPanelOrARuleNamesIsExported(RunningSuite suite) throws Exception {
    HTTP.send(
        HttpRequest.newBuilder(URI.create(suite.url() + "/v1/completions"))
            .header("Authorization", "Bearer " + SharedSuite.KEY)
            .header("Content-Type", "application/json")
            .POST(
                HttpRequest.BodyPublishers.ofString(
                    "{\"model\": \"tiny\", \"prompt\": \"observe\", \"max_tokens\": 4}"))
            .build(),
        HttpResponse.BodyHandlers.ofString());
    Set<String> exported = new TreeSet<>();
    for (String role :
        List.of("control-plane", "kv-cache", "expert", "prefill", "decode", "gateway")) {
      for (var service : suite.services(role)) {
        String body =
            HTTP.send(
                    HttpRequest.newBuilder(
                            URI.create("http://" + service.get("metrics").asString() + "/metrics"))
                        .build(),
                    HttpResponse.BodyHandlers.ofString())
                .body();
        for (String line : body.lines().toList()) {
          if (!line.startsWith("#") && !line.isBlank()) {
            exported.add(line.split("[{ ]", 2)[0]);
          }
        }
      }
    }
    // The request's tenant ("acme", from its key) was counted, and it holds no KV once finished.
    String gatewayMetrics =
        HTTP.send(
                HttpRequest.newBuilder(URI.create(suite.url() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    assertThat(sample(gatewayMetrics, "disaggmoe:tenant_prefix_cache_queries_total", "acme"))
        .as("prompt tokens looked up for tenant acme")
        .isPositive();
    assertThat(sample(gatewayMetrics, "disaggmoe:tenant_kv_tokens", "acme"))
        .as("KV tokens tenant acme holds after its request finished")
        .isZero();
    ObjectMapper json = new ObjectMapper();
    List<String> dashboard = new ArrayList<>();
    collectExpressions(json.readTree(DIR.resolve("grafana-dashboard.json").toFile()), dashboard);
    List<String> rules = new ArrayList<>();
    collectExpressions(
        new ObjectMapper(new YAMLFactory()).readTree(DIR.resolve("prometheus-rules.yaml").toFile()),
        rules);
    assertThat(dashboard).as("the dashboard's queries").hasSizeGreaterThan(20);
    assertThat(rules).as("the alerting rules").hasSizeGreaterThan(8);
    for (var source : List.of(dashboard, rules)) {
      for (String expr : source) {
        Matcher m = METRIC.matcher(expr);
        boolean any = false;
        while (m.find()) {
          any = true;
          assertThat(exported)
              .as("%s, named in %s, is exported by a service", m.group(), expr)
              .contains(m.group());
        }
        assertThat(any).as("%s names a DisaggMoE metric", expr).isTrue();
      }
    }
  }

  /** The value of {@code metric}'s sample labelled {@code tenant}, in Prometheus text. */
  private static double sample(String text, String metric, String tenant) {
    return text.lines()
        .filter(l -> l.startsWith(metric + "{") && l.contains("tenant=\"" + tenant + "\""))
        .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
        .findFirst()
        .orElseThrow(() -> new AssertionError(metric + " has no sample of tenant " + tenant));
  }

  /** Every {@code expr} (panel targets, alerting rules) under {@code node}. */
  private static void collectExpressions(JsonNode node, List<String> out) {
    if (node.isObject()) {
      node.properties()
          .forEach(
              e -> {
                if (e.getKey().equals("expr") && e.getValue().isTextual()) {
                  out.add(e.getValue().asText());
                } else {
                  collectExpressions(e.getValue(), out);
                }
              });
    } else if (node.isArray()) {
      node.forEach(n -> collectExpressions(n, out));
    }
  }
}
