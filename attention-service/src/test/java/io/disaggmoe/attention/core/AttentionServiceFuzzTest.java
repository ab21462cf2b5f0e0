package io.disaggmoe.attention.core;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.google.protobuf.ByteString;
import com.google.protobuf.MessageLite;
import io.disaggmoe.attention.client.Peers;
import io.disaggmoe.attention.grpc.AttentionGrpcService;
import io.disaggmoe.model.testing.GoldenCase;
import io.disaggmoe.proto.testing.HostileCalls;
import io.disaggmoe.proto.testing.HostileMemory;
import io.disaggmoe.proto.testing.InProcessService;
import io.disaggmoe.proto.v1.AttentionServiceGrpc;
import io.disaggmoe.proto.v1.CacheHandle;
import io.disaggmoe.proto.v1.DecodeRequest;
import io.disaggmoe.proto.v1.DecodeResponse;
import io.disaggmoe.proto.v1.ForwardRequest;
import io.disaggmoe.proto.v1.GetStatusRequest;
import io.disaggmoe.proto.v1.PrefillRequest;
import io.disaggmoe.proto.v1.PrefillResponse;
import io.disaggmoe.proto.v1.SamplingParams;
import io.grpc.ManagedChannel;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Hostile messages against a prefill and a decode instance's gRPC service: prompts over the context
 * or with out-of-vocabulary ids, sampling parameters out of range, cache handles that name other
 * prompts, bytes that do not parse, streams abandoned half way. Every call must end with a status
 * other than UNKNOWN or INTERNAL; afterwards both are SERVING, the golden prompt's greedy tokens
 * are exact through Prefill and Decode, no pages are held, and memory is where it was. The normal
 * run replays the committed corpus; {@code -Pfuzz} runs 10 000 new inputs.
 */
class AttentionServiceFuzzTest {
  private static final GoldenCase GOLDEN = GoldenCase.named("v3-tiny");
  private static SplitStack stack;
  private static final List<InProcessService> services = new ArrayList<>();
  private static ManagedChannel prefill;
  private static ManagedChannel decode;
  private static HostileCalls prefillCalls;
  private static HostileCalls decodeCalls;
  private static HostileMemory memory;
  private static int arrays;

  @BeforeAll
  static void start() throws Exception {
    stack = new SplitStack(GOLDEN.dir(), 1 << 24, 4, 1 << 22, 512);
    prefill = serve("prefill", stack.prefill, null);
    decode = serve("decode", null, stack.decode);
    prefillCalls =
        new HostileCalls(
            prefill,
            AttentionServiceGrpc.getServiceDescriptor(),
            AttentionServiceFuzzTest::message);
    decodeCalls =
        new HostileCalls(
            decode, AttentionServiceGrpc.getServiceDescriptor(), AttentionServiceFuzzTest::message);
    golden();
    arrays = stack.model.managedArrayCount();
    memory = HostileMemory.now();
  }

  private static ManagedChannel serve(String role, PrefillEngine p, DecodeEngine d)
      throws Exception {
    InProcessService s =
        InProcessService.start(
            new AttentionGrpcService(stack.model, role, p, d, false, Peers.none()));
    services.add(s);
    return s.channel();
  }

  private static MessageLite message(String method, FuzzedDataProvider data) {
    return switch (method) {
      case "Prefill" -> {
        PrefillRequest.Builder b =
            PrefillRequest.newBuilder()
                .setRequestId(data.consumeString(20))
                .setTenant(data.consumeString(20))
                .addAllPromptIds(ids(data))
                .setSampling(sampling(data))
                .setReturnLogits(data.consumeBoolean());
        if (data.consumeBoolean()) {
          b.setPromptLogprobs(data.consumeInt(0, 30));
        }
        yield b.build();
      }
      case "Decode" -> {
        CacheHandle.Builder cache =
            CacheHandle.newBuilder()
                .setRequestId(data.consumeString(20))
                .setTenant(data.consumeString(20))
                .setTokens(HostileCalls.hostileSize(data));
        int hashes = data.consumeInt(0, 4);
        for (int i = 0; i < hashes; i++) {
          cache.addBlockHashes(ByteString.copyFrom(data.consumeBytes(data.consumeInt(0, 40))));
        }
        yield DecodeRequest.newBuilder()
            .setRequestId(data.consumeString(20))
            .setTenant(data.consumeString(20))
            .addAllPromptIds(ids(data))
            .addAllGeneratedIds(ids(data))
            .setCache(cache)
            .setSampling(sampling(data))
            .setReturnLogits(data.consumeBoolean())
            .build();
      }
      case "Forward" ->
          ForwardRequest.newBuilder()
              .addAllPromptIds(ids(data))
              .setDecodeSteps(HostileCalls.hostileSize(data))
              .build();
      default -> GetStatusRequest.getDefaultInstance();
    };
  }

  /** Mostly short prompts of real ids, sometimes over the context or out of the vocabulary. */
  private static List<Integer> ids(FuzzedDataProvider data) {
    int n = data.consumeBoolean() ? data.consumeInt(0, 12) : data.consumeInt(0, 80);
    List<Integer> ids = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      ids.add(data.consumeInt(0, 9) == 0 ? data.consumeInt() : data.consumeInt(0, 500));
    }
    return ids;
  }

  private static SamplingParams sampling(FuzzedDataProvider data) {
    SamplingParams.Builder s = SamplingParams.newBuilder();
    if (data.consumeBoolean()) {
      s.setTemperature(data.consumeBoolean() ? data.consumeDouble() : data.consumeDouble());
    }
    if (data.consumeBoolean()) {
      s.setTopP(data.consumeDouble());
    }
    if (data.consumeBoolean()) {
      s.setTopK(data.consumeInt());
    }
    if (data.consumeBoolean()) {
      s.setMinP(data.consumeDouble());
    }
    if (data.consumeBoolean()) {
      s.setRepetitionPenalty(data.consumeDouble());
    }
    if (data.consumeBoolean()) {
      s.putLogitBias(data.consumeInt(), HostileCalls.hostileFloat(data));
    }
    if (data.consumeBoolean()) {
      s.addStop(data.consumeString(10));
    }
    s.setMaxTokens(data.consumeBoolean() ? data.consumeInt(0, 6) : HostileCalls.hostileSize(data));
    s.setLogprobs(data.consumeBoolean());
    s.setTopLogprobs(data.consumeInt(0, 30));
    s.setIgnoreEos(data.consumeBoolean());
    return s.build();
  }

  @FuzzTest(maxExecutions = 10_000)
  void hostileMessagesGetAStatusOtherThanUnknownOrInternal(FuzzedDataProvider data)
      throws Exception {
    (data.consumeBoolean() ? prefillCalls : decodeCalls).call(data, 30);
  }

  /** The golden prompt's greedy tokens through Prefill then Decode, checked exactly. */
  private static void golden() {
    int[] prompt = GOLDEN.promptIds();
    int[] want = GOLDEN.greedyIds();
    SamplingParams greedy =
        SamplingParams.newBuilder()
            .setTemperature(0)
            .setIgnoreEos(true)
            .setMaxTokens(want.length)
            .build();
    String id = "golden-" + System.nanoTime();
    PrefillRequest.Builder p =
        PrefillRequest.newBuilder().setRequestId(id).setTenant(id).setSampling(greedy);
    for (int t : prompt) {
      p.addPromptIds(t);
    }
    PrefillResponse first =
        AttentionServiceGrpc.newBlockingStub(prefill)
            .withDeadlineAfter(60, TimeUnit.SECONDS)
            .prefill(p.build());
    List<Integer> got = new ArrayList<>(List.of(first.getFirstToken().getTokenId()));
    DecodeRequest.Builder d =
        DecodeRequest.newBuilder()
            .setRequestId(id)
            .setTenant(id)
            .addGeneratedIds(first.getFirstToken().getTokenId())
            .setCache(first.getCache())
            .setSampling(greedy);
    for (int t : prompt) {
      d.addPromptIds(t);
    }
    Iterator<DecodeResponse> steps =
        AttentionServiceGrpc.newBlockingStub(decode)
            .withDeadlineAfter(60, TimeUnit.SECONDS)
            .decode(d.build());
    steps.forEachRemaining(r -> r.getTokensList().forEach(t -> got.add(t.getTokenId())));
    assertThat(got)
        .as("golden greedy ids through Prefill and Decode")
        .containsExactly(java.util.Arrays.stream(want).boxed().toArray(Integer[]::new));
  }

  @AfterAll
  static void afterwardsBothRolesServeExactlyAsBefore() throws Exception {
    try {
      System.out.println(prefillCalls.report("attention-service prefill"));
      System.out.println(decodeCalls.report("attention-service decode"));
      for (ManagedChannel c : List.of(prefill, decode)) {
        HostileCalls.assertServing(c);
      }
      golden();
      long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
      while ((stack.decode.runningRequests() > 0 || stack.decode.usedPages() > 0)
          && System.nanoTime() < deadline) {
        Thread.sleep(10);
      }
      stack.settle();
      assertThat(stack.decode.usedPages()).as("decode pages still held").isZero();
      assertThat(stack.model.managedArrayCount()).as("native arrays").isEqualTo(arrays);
      memory.assertFlat("attention-service");
    } finally {
      for (InProcessService s : services) {
        s.close();
      }
      stack.close();
    }
  }
}
