package io.disaggmoe.tests;

import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import tools.jackson.databind.JsonNode;

/** What a running suite's stages still hold, as the tests that end idle check it. */
final class StageStates {
  private StageStates() {}

  /**
   * "idle" once every stage is, or what was still running, queued or pinned when {@code seconds}
   * ran out.
   */
  static String awaitIdle(RunningSuite suite, HttpClient http, int seconds) throws Exception {
    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
    String state;
    do {
      Thread.sleep(200);
      state = busy(suite, http);
    } while (!state.equals("idle") && System.nanoTime() < deadline);
    return state;
  }

  /** "idle", or what is still running, queued or pinned somewhere. */
  static String busy(RunningSuite suite, HttpClient http) throws Exception {
    List<String> busy = new ArrayList<>();
    for (String role : List.of("prefill", "decode")) {
      for (JsonNode s : suite.services(role)) {
        AttentionStatus st =
            call(
                s,
                ch ->
                    AttentionServiceGrpc.newBlockingStub(ch)
                        .getStatus(GetStatusRequest.getDefaultInstance()));
        if (st.getRunningRequests() > 0 || st.getQueuedTokens() > 0) {
          busy.add(
              role
                  + " "
                  + st.getRunningRequests()
                  + " running, "
                  + st.getQueuedTokens()
                  + " queued tokens");
        }
      }
    }
    long pinned =
        call(
                suite.services("kv-cache").getFirst(),
                ch ->
                    KvCacheServiceGrpc.newBlockingStub(ch)
                        .getStats(GetStatsRequest.getDefaultInstance()))
            .getPinnedBytes();
    if (pinned > 0) {
      busy.add("kv-cache " + pinned + " pinned bytes");
    }
    String metrics =
        http.send(
                HttpRequest.newBuilder(URI.create(suite.url() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString())
            .body();
    Matcher m = Pattern.compile("vllm:num_requests_running\\{[^}]*} ([0-9.]+)").matcher(metrics);
    if (m.find() && Double.parseDouble(m.group(1)) > 0) {
      busy.add("gateway " + m.group(1) + " running");
    }
    return busy.isEmpty() ? "idle" : String.join("; ", busy);
  }

  private static <T> T call(JsonNode service, java.util.function.Function<ManagedChannel, T> f) {
    ManagedChannel ch =
        NettyChannelBuilder.forTarget(service.get("address").asString()).usePlaintext().build();
    try {
      return f.apply(ch);
    } finally {
      ch.shutdownNow();
    }
  }
}
