package io.disaggmoe.gateway.http;

import java.util.ArrayList;
import java.util.List;
import tools.jackson.databind.node.JsonNodeFactory;
import tools.jackson.databind.node.ObjectNode;

/**
 * Which instances served one choice, reported as NVIDIA Dynamo's {@code nvext.worker_id} when the
 * request asks for it: the prefill instance that computed the prompt (none when a decode instance
 * computed it), and every decode instance the choice ran on, in order (more than one after a
 * migration). Instances are named by the address the gateway calls.
 */
final class WorkerIds {
  private String prefill;
  private final List<String> decodes = new ArrayList<>();

  synchronized void prefill(String address) {
    prefill = address;
  }

  synchronized void decode(String address) {
    decodes.add(address);
  }

  synchronized ObjectNode json() {
    ObjectNode n = JsonNodeFactory.instance.objectNode();
    n.put("prefill_worker_id", prefill);
    n.put("decode_worker_id", decodes.isEmpty() ? null : decodes.getLast());
    decodes.forEach(n.putArray("decode_worker_ids")::add);
    return n;
  }
}
