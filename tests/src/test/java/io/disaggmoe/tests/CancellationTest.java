package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.AttentionStatus;
import io.disaggmoe.proto.v1.GetStatsRequest;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.v1.KvCacheServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import tools.jackson.databind.JsonNode;

/**
 * Cancellation as vLLM tests it: many streams with a huge max_tokens are abandoned by their clients
 * after half a second; a fresh request then completes within 5 s, and every stage goes back to
 * nothing running, nothing queued and nothing pinned.
 */
@ExtendWith(SharedSuite.class)
class CancellationTest {
  static final int STREAMS = 200;
  static RunningSuite suite;

  @BeforeAll
  static void start(RunningSuite shared) {
    suite = shared;
  }

  @Test
  void abandonedStreamsFreeEveryStage() throws Exception {
    HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    List<CompletableFuture<HttpResponse<InputStream>>> calls = new ArrayList<>();
    for (int i = 0; i < STREAMS; i++) {
      String body =
          "{\"model\": \"tiny\", \"stream\": true, \"max_tokens\": 4000, \"ignore_eos\": true,"
              + " \"messages\": [{\"role\": \"user\", \"content\": \"Request "
              + i
              + ", tell me everything.\"}]}";
      calls.add(
          http.sendAsync(
              HttpRequest.newBuilder(URI.create(suite.url() + "/v1/chat/completions"))
                  .header("Authorization", "Bearer " + SharedSuite.KEY)
                  .header("Content-Type", "application/json")
                  .POST(HttpRequest.BodyPublishers.ofString(body))
                  .build(),
              HttpResponse.BodyHandlers.ofInputStream()));
    }
    Thread.sleep(500);
    // The clients time out: a stream that started is closed, one still waiting is abandoned.
    for (var call : calls) {
      if (call.isDone() && !call.isCompletedExceptionally()) {
        call.get().body().close();
      } else {
        call.cancel(true);
      }
    }

    long start = System.nanoTime();
    HttpResponse<String> fresh =
        http.send(
            HttpRequest.newBuilder(URI.create(suite.url() + "/v1/completions"))
                .header("Authorization", "Bearer " + SharedSuite.KEY)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(30))
                .POST(
                    HttpRequest.BodyPublishers.ofString(
                        "{\"model\": \"tiny\", \"prompt\": \"fresh\", \"max_tokens\": 8}"))
                .build(),
            HttpResponse.BodyHandlers.ofString());
    double seconds = (System.nanoTime() - start) / 1e9;
    assertThat(fresh.statusCode()).as(fresh.body()).isEqualTo(200);
    assertThat(seconds).as("seconds for a fresh request after the abandoned ones").isLessThan(5);

    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
    String state;
    do {
      Thread.sleep(200);
      state = stageState(http);
    } while (!state.equals("idle") && System.nanoTime() < deadline);
    assertThat(state).as("every stage after the abandoned streams").isEqualTo("idle");
  }

  /** "idle", or what is still running, queued or pinned somewhere. */
  private static String stageState(HttpClient http) throws Exception {
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
