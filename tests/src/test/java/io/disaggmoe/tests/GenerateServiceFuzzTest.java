package io.disaggmoe.tests;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.MessageLite;
import io.disaggmoe.proto.testing.HostileCalls;
import io.disaggmoe.proto.v1.ChatMessage;
import io.disaggmoe.proto.v1.ChatMessages;
import io.disaggmoe.proto.v1.GenerateRequest;
import io.disaggmoe.proto.v1.GenerateResponse;
import io.disaggmoe.proto.v1.GenerateServiceGrpc;
import io.disaggmoe.proto.v1.SamplingParams;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Hostile messages against the gateway's {@code GenerateService} of a running {@code up
 * --processes} suite, over TCP: prompts of every shape, sampling parameters out of range, unknown
 * models, bytes that do not parse, streams abandoned half way. Every call must end with a status
 * other than UNKNOWN or INTERNAL; afterwards the gateway is healthy, a greedy request gives the
 * text it gave before, and every stage is idle (nothing running, queued or pinned). The servers run
 * in other processes, so the fuzzer mutates without their coverage.
 */
@ExtendWith(SharedSuite.class)
class GenerateServiceFuzzTest {
  private static RunningSuite suite;
  private static ManagedChannel channel;
  private static HostileCalls calls;
  private static String before;

  @BeforeAll
  static void start(RunningSuite shared) {
    suite = shared;
    channel = NettyChannelBuilder.forTarget(suite.generateService()).usePlaintext().build();
    Metadata key = new Metadata();
    key.put(
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
        "Bearer " + SharedSuite.KEY);
    Channel keyed =
        ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(key));
    calls =
        new HostileCalls(
            keyed, GenerateServiceGrpc.getServiceDescriptor(), GenerateServiceFuzzTest::message);
    before = greedyText(keyed);
  }

  private static MessageLite message(String method, FuzzedDataProvider data) {
    GenerateRequest.Builder r =
        GenerateRequest.newBuilder()
            .setModel(data.consumeBoolean() ? "tiny" : data.consumeString(20));
    if (data.consumeBoolean()) {
      r.setPrompt(data.consumeString(data.consumeInt(0, 300)));
    } else {
      ChatMessages.Builder chat = ChatMessages.newBuilder();
      int n = data.consumeInt(0, 4);
      for (int i = 0; i < n; i++) {
        chat.addMessages(
            ChatMessage.newBuilder()
                .setRole(
                    data.pickValue(java.util.List.of("user", "system", "assistant", "tool", "x")))
                .setContent(data.consumeString(100))
                .setToolCallsJson(data.consumeBoolean() ? data.consumeString(60) : "")
                .setToolCallId(data.consumeString(10)));
      }
      if (data.consumeBoolean()) {
        chat.setAddGenerationPrompt(data.consumeBoolean());
      }
      chat.setContinueFinalMessage(data.consumeBoolean());
      if (data.consumeBoolean()) {
        chat.setChatTemplateKwargsJson(data.consumeString(60));
      }
      r.setChat(chat);
    }
    SamplingParams.Builder s = SamplingParams.newBuilder();
    if (data.consumeBoolean()) {
      s.setTemperature(data.consumeDouble());
    }
    if (data.consumeBoolean()) {
      s.setTopP(data.consumeDouble());
    }
    if (data.consumeBoolean()) {
      s.setTopK(data.consumeInt());
    }
    if (data.consumeBoolean()) {
      s.putLogitBias(data.consumeInt(), HostileCalls.hostileFloat(data));
    }
    if (data.consumeBoolean()) {
      s.addStop(data.consumeString(8));
    }
    s.setMaxTokens(data.consumeBoolean() ? data.consumeInt(0, 4) : HostileCalls.hostileSize(data));
    s.setTopLogprobs(data.consumeInt(0, 25));
    s.setLogprobs(data.consumeBoolean());
    return r.setSampling(s).build();
  }

  private static String greedyText(Channel c) {
    StringBuilder text = new StringBuilder();
    GenerateServiceGrpc.newBlockingStub(c)
        .withDeadlineAfter(2, TimeUnit.MINUTES)
        .generate(
            GenerateRequest.newBuilder()
                .setModel("tiny")
                .setPrompt("The fuzz suite checks that")
                .setSampling(
                    SamplingParams.newBuilder()
                        .setTemperature(0)
                        .setMaxTokens(8)
                        .setIgnoreEos(true))
                .build())
        .forEachRemaining((GenerateResponse r) -> text.append(r.getText()));
    return text.toString();
  }

  @FuzzTest(maxExecutions = 10_000)
  void hostileMessagesGetAStatusOtherThanUnknownOrInternal(FuzzedDataProvider data)
      throws Exception {
    calls.call(data, 60);
  }

  @AfterAll
  static void afterwardsTheSuiteServesExactlyAsBefore() throws Exception {
    try {
      System.out.println(calls.report("gateway GenerateService"));
      HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
      HttpResponse<String> health =
          http.send(
              HttpRequest.newBuilder(URI.create(suite.url() + "/health")).build(),
              HttpResponse.BodyHandlers.ofString());
      assertThat(health.statusCode()).as(health.body()).isEqualTo(200);
      Metadata key = new Metadata();
      key.put(
          Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER),
          "Bearer " + SharedSuite.KEY);
      assertThat(
              greedyText(
                  ClientInterceptors.intercept(
                      channel, MetadataUtils.newAttachHeadersInterceptor(key))))
          .as("the greedy text after the hostile calls")
          .isEqualTo(before);
      assertThat(StageStates.awaitIdle(suite, http, 30))
          .as("every stage after the hostile calls")
          .isEqualTo("idle");
    } finally {
      channel.shutdownNow();
    }
  }
}
