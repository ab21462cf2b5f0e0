package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.models.completions.CompletionCreateParams;
import io.disaggmoe.proto.v1.ChatMessage;
import io.disaggmoe.proto.v1.ChatMessages;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.GenerateRequest;
import io.disaggmoe.proto.v1.GenerateResponse;
import io.disaggmoe.proto.v1.GenerateServiceGrpc;
import io.disaggmoe.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The gateway's gRPC face: the same text as the HTTP API, and statuses instead of HTTP codes. */
@ExtendWith(SharedSuite.class)
class GenerateServiceTest {
  static RunningSuite suite;
  static ManagedChannel channel;

  @BeforeAll
  static void start(RunningSuite shared) {
    suite = shared;
    channel = NettyChannelBuilder.forTarget(suite.generateService()).usePlaintext().build();
  }

  @AfterAll
  static void stop() {
    channel.shutdownNow();
  }

  static GenerateServiceGrpc.GenerateServiceBlockingStub stub(String key) {
    Metadata m = new Metadata();
    m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + key);
    return GenerateServiceGrpc.newBlockingStub(channel)
        .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m))
        .withDeadlineAfter(2, TimeUnit.MINUTES);
  }

  @Test
  void generateStreamsWhatTheHttpApiReturns() {
    String prompt = "A gRPC client asks";
    String http = httpGreedyCompletion(prompt, 10);
    double tokensBefore = gatewayMetric("vllm:generation_tokens_total");
    double requestsBefore = gatewayMetric("vllm:e2e_request_latency_seconds_count");
    List<GenerateResponse> responses = new ArrayList<>();
    stub(SharedSuite.KEY)
        .generate(
            GenerateRequest.newBuilder()
                .setModel("tiny")
                .setPrompt(prompt)
                .setSampling(
                    SamplingParams.newBuilder()
                        .setTemperature(0)
                        .setMaxTokens(10)
                        .setIgnoreEos(true))
                .build())
        .forEachRemaining(responses::add);
    StringBuilder text = new StringBuilder();
    responses.forEach(r -> text.append(r.getText()));
    assertThat(text.toString()).isEqualTo(http);
    GenerateResponse last = responses.getLast();
    assertThat(last.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_LENGTH);
    assertThat(last.getUsage().getCompletionTokens()).isEqualTo(10);
    assertThat(responses.stream().mapToInt(GenerateResponse::getTokensCount).sum()).isEqualTo(10);
    // Counted in the gateway's vLLM metrics as an HTTP request is.
    assertThat(gatewayMetric("vllm:generation_tokens_total") - tokensBefore)
        .as("generation tokens the gRPC call added")
        .isEqualTo(10);
    assertThat(gatewayMetric("vllm:e2e_request_latency_seconds_count") - requestsBefore)
        .as("requests the gRPC call added to the end-to-end latency")
        .isEqualTo(1);
  }

  /** The OpenAI SDK's greedy completion of {@code prompt} over the gateway's HTTP API. */
  private static String httpGreedyCompletion(String prompt, int maxTokens) {
    return OpenAIOkHttpClient.builder()
        .baseUrl(suite.url() + "/v1")
        .apiKey(SharedSuite.KEY)
        .maxRetries(0)
        .build()
        .completions()
        .create(
            CompletionCreateParams.builder()
                .model("tiny")
                .prompt(prompt)
                .maxTokens(maxTokens)
                .temperature(0.0)
                .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true))
                .build())
        .choices()
        .getFirst()
        .text();
  }

  /** The gateway's sample of {@code metric} for the served model, from its /metrics. */
  static double gatewayMetric(String metric) {
    try {
      String text =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create(suite.url() + "/metrics")).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
      return text.lines()
          .filter(l -> l.startsWith(metric + "{"))
          .mapToDouble(l -> Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)))
          .findFirst()
          .orElseThrow(() -> new AssertionError("the gateway exports no " + metric));
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException(e);
    }
  }

  @Test
  void aCallPastItsDeadlineEndsInEveryStage() throws Exception {
    var stub =
        stub(SharedSuite.KEY).withDeadlineAfter(700, java.util.concurrent.TimeUnit.MILLISECONDS);
    assertThatThrownBy(
            () ->
                stub.generate(
                        GenerateRequest.newBuilder()
                            .setModel("tiny")
                            .setPrompt("a long answer")
                            .setSampling(
                                SamplingParams.newBuilder().setMaxTokens(3000).setIgnoreEos(true))
                            .build())
                    .forEachRemaining(r -> {}))
        .hasMessageContaining("DEADLINE_EXCEEDED");
    long until = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
    int running;
    do {
      Thread.sleep(100);
      running = 0;
      for (var d : suite.services("decode")) {
        ManagedChannel ch =
            NettyChannelBuilder.forTarget(d.get("address").asString()).usePlaintext().build();
        try {
          running +=
              io.disaggmoe.proto.v1.AttentionServiceGrpc.newBlockingStub(ch)
                  .getStatus(io.disaggmoe.proto.v1.GetStatusRequest.getDefaultInstance())
                  .getRunningRequests();
        } finally {
          ch.shutdownNow();
        }
      }
    } while (running > 0 && System.nanoTime() < until);
    assertThat(running).as("requests still running on decode instances").isZero();
    String metrics;
    do {
      Thread.sleep(100);
      metrics =
          HttpClient.newHttpClient()
              .send(
                  HttpRequest.newBuilder(URI.create(suite.url() + "/metrics")).build(),
                  HttpResponse.BodyHandlers.ofString())
              .body();
    } while (!metrics.contains("vllm:num_requests_running{model_name=\"tiny\"} 0.0")
        && System.nanoTime() < until);
    assertThat(metrics)
        .as("the gateway gave the call's admission slot back")
        .contains("vllm:num_requests_running{model_name=\"tiny\"} 0.0");
  }

  @Test
  void refusalsAreStatuses() {
    GenerateRequest ok =
        GenerateRequest.newBuilder()
            .setModel("tiny")
            .setPrompt("x")
            .setSampling(SamplingParams.newBuilder().setMaxTokens(2))
            .build();
    assertThatThrownBy(() -> stub("sk-wrong").generate(ok).next())
        .hasMessageContaining("UNAUTHENTICATED");
    assertThatThrownBy(
            () -> stub(SharedSuite.KEY).generate(ok.toBuilder().setModel("nope").build()).next())
        .hasMessageContaining("NOT_FOUND");
    assertThatThrownBy(
            () ->
                stub(SharedSuite.KEY)
                    .generate(
                        ok.toBuilder()
                            .setSampling(SamplingParams.newBuilder().setMaxTokens(1_000_000))
                            .build())
                    .next())
        .hasMessageContaining("INVALID_ARGUMENT")
        .hasMessageContaining("max_tokens");
    assertThatThrownBy(
            () ->
                stub(SharedSuite.KEY)
                    .generate(
                        ok.toBuilder()
                            .setSampling(SamplingParams.newBuilder().setMaxTokens(2).setTopP(7))
                            .build())
                    .next())
        .hasMessageContaining("INVALID_ARGUMENT")
        .hasMessageContaining("top_p");
    ChatMessages started =
        ChatMessages.newBuilder()
            .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hi"))
            .addMessages(ChatMessage.newBuilder().setRole("assistant").setContent("Hel"))
            .setContinueFinalMessage(true)
            .build();
    assertThatThrownBy(
            () ->
                stub(SharedSuite.KEY)
                    .generate(
                        ok.toBuilder()
                            .setChat(started.toBuilder().setAddGenerationPrompt(true))
                            .build())
                    .next())
        .hasMessageContaining("INVALID_ARGUMENT")
        .hasMessageContaining("cannot both be true");
    assertThatThrownBy(
            () ->
                stub(SharedSuite.KEY)
                    .generate(
                        ok.toBuilder()
                            .setChat(started.toBuilder().setChatTemplateKwargsJson("[1"))
                            .build())
                    .next())
        .hasMessageContaining("INVALID_ARGUMENT")
        .hasMessageContaining("chat_template_kwargs_json");
    assertThatThrownBy(
            () ->
                stub(SharedSuite.KEY)
                    .generate(
                        ok.toBuilder()
                            .setChat(
                                ChatMessages.newBuilder()
                                    .addMessages(
                                        ChatMessage.newBuilder()
                                            .setRole("assistant")
                                            .setToolCallsJson("[{\"id\": ")))
                            .build())
                    .next())
        .as("tool calls the template would have lost before")
        .hasMessageContaining("INVALID_ARGUMENT")
        .hasMessageContaining("tool_calls_json");
  }

  @Test
  void aChatContinuesItsFinalMessageAsOverHttp() {
    String http = httpGreedyCompletion("<｜User｜>Hi<｜Assistant｜>Hel", 6);
    StringBuilder text = new StringBuilder();
    stub(SharedSuite.KEY)
        .generate(
            GenerateRequest.newBuilder()
                .setModel("tiny")
                .setChat(
                    ChatMessages.newBuilder()
                        .addMessages(ChatMessage.newBuilder().setRole("user").setContent("Hi"))
                        .addMessages(
                            ChatMessage.newBuilder().setRole("assistant").setContent("Hel"))
                        .setContinueFinalMessage(true)
                        .setChatTemplateKwargsJson("{\"thinking\": false}"))
                .setSampling(
                    SamplingParams.newBuilder()
                        .setTemperature(0)
                        .setMaxTokens(6)
                        .setIgnoreEos(true))
                .build())
        .forEachRemaining(r -> text.append(r.getText()));
    assertThat(text.toString())
        .as("the continued reply against the completion of the prompt ending inside it")
        .isEqualTo(http);
  }
}
