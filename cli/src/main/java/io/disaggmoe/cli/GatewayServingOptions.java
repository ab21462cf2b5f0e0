package io.disaggmoe.cli;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * What a gateway serves and to whom, with vLLM's meaning: the model id clients use, the context it
 * serves, which web pages' scripts may call it. {@code serve gateway} binds them; {@code up} passes
 * them on to the gateways it starts.
 */
final class GatewayServingOptions {
  @Option(
      names = "--served-model-name",
      description = "the model id clients use (default: the checkpoint directory's name)")
  String servedModelName;

  @Option(
      names = "--max-model-len",
      description =
          "the longest prompt plus output served, in tokens (default: the model's context)")
  Integer maxModelLen;

  @Option(
      names = "--allowed-origins",
      split = ",",
      defaultValue = "*",
      description =
          "origins whose web pages may call the API (CORS), patterns such as"
              + " https://*.example.com; empty for none (default ${DEFAULT-VALUE})")
  List<String> allowedOrigins;

  void addTo(Map<String, String> properties) {
    if (servedModelName != null) {
      properties.put("disaggmoe.gateway.served-model-name", servedModelName);
    }
    if (maxModelLen != null) {
      properties.put("disaggmoe.gateway.max-model-len", String.valueOf(maxModelLen));
    }
    properties.put("disaggmoe.gateway.allowed-origins", String.join(",", allowedOrigins));
  }

  /** The same options as {@code serve gateway} arguments. */
  List<String> args() {
    List<String> args = new ArrayList<>();
    if (servedModelName != null) {
      args.addAll(List.of("--served-model-name", servedModelName));
    }
    if (maxModelLen != null) {
      args.addAll(List.of("--max-model-len", String.valueOf(maxModelLen)));
    }
    args.add("--allowed-origins=" + String.join(",", allowedOrigins));
    return args;
  }
}
