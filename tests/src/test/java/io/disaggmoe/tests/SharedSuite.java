package io.disaggmoe.tests;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.ParameterContext;
import org.junit.jupiter.api.extension.ParameterResolver;

/**
 * One {@code up --processes} suite with API keys, shared by the test classes that only read from it
 * (as a {@code RunningSuite} parameter), and stopped (SIGTERM, state file checked) when the test
 * run ends.
 */
final class SharedSuite implements ParameterResolver {
  static final String KEY = "sk-disaggmoe-test";
  static final String SMALL_QUOTA_KEY = "sk-small-quota";

  @Override
  public boolean supportsParameter(ParameterContext parameter, ExtensionContext context) {
    return parameter.getParameter().getType() == RunningSuite.class;
  }

  @Override
  public Object resolveParameter(ParameterContext parameter, ExtensionContext context) {
    return get(context);
  }

  private static RunningSuite get(ExtensionContext context) {
    return context
        .getRoot()
        .getStore(ExtensionContext.Namespace.GLOBAL)
        .computeIfAbsent("shared suite", k -> start(), RunningSuite.class);
  }

  private static RunningSuite start() {
    try {
      Path work = Files.createTempDirectory("disaggmoe-suite");
      Path keys = work.resolve("keys.json");
      // Removed when the JVM exits, the keys first (in the reverse of this order); the suite
      // removes its own state file when it stops.
      work.toFile().deleteOnExit();
      keys.toFile().deleteOnExit();
      Files.writeString(
          keys,
          """
          {"keys": [
            {"key": "%s", "tenant": "acme", "requests_per_minute": 100000,
             "tokens_per_minute": 100000000},
            {"key": "%s", "tenant": "tiny-quota", "requests_per_minute": 1000,
             "tokens_per_minute": 100}
          ]}
          """
              .formatted(KEY, SMALL_QUOTA_KEY));
      return RunningSuite.start(work, "--api-keys", keys.toString());
    } catch (Exception e) {
      throw new IllegalStateException("the suite did not start", e);
    }
  }
}
