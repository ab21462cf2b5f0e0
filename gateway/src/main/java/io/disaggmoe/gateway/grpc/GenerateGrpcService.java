package io.disaggmoe.gateway.grpc;

import io.disaggmoe.gateway.core.Admission;
import io.disaggmoe.gateway.core.ApiException;
import io.disaggmoe.gateway.core.ApiKeys;
import io.disaggmoe.gateway.core.Cancellable;
import io.disaggmoe.gateway.core.ChatOptions;
import io.disaggmoe.gateway.core.GatewayMetrics;
import io.disaggmoe.gateway.core.GenerationListener;
import io.disaggmoe.gateway.core.GenerationPipeline;
import io.disaggmoe.gateway.core.GenerationRequest;
import io.disaggmoe.gateway.core.RequestTimer;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.gateway.core.TenantKvTokens;
import io.disaggmoe.proto.v1.ChatMessage;
import io.disaggmoe.proto.v1.ChatMessages;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.GenerateRequest;
import io.disaggmoe.proto.v1.GenerateResponse;
import io.disaggmoe.proto.v1.GenerateServiceGrpc;
import io.disaggmoe.proto.v1.SampledToken;
import io.disaggmoe.proto.v1.SamplingParams;
import io.disaggmoe.proto.v1.Usage;
import io.disaggmoe.proto.wire.ParseFailures;
import io.grpc.BindableService;
import io.grpc.Context;
import io.grpc.Contexts;
import io.grpc.Deadline;
import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import tools.jackson.core.JacksonException;
import tools.jackson.databind.ObjectReader;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code GenerateService.Generate}: the gateway's gRPC face, with the HTTP API's semantics (keys,
 * limits, admission, the same pipeline). The key comes as {@code authorization: Bearer KEY}
 * metadata; refusals become the matching status (400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 404
 * NOT_FOUND, 429 RESOURCE_EXHAUSTED, 503 UNAVAILABLE).
 */
public final class GenerateGrpcService
    implements GenerateServiceGrpc.AsyncService, BindableService {
  /** The generated binding; a request that does not parse gets INVALID_ARGUMENT. */
  @Override
  public ServerServiceDefinition bindService() {
    return ParseFailures.asInvalidArgument(GenerateServiceGrpc.bindService(this));
  }

  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  static final Context.Key<String> CALLER_AUTHORIZATION = Context.key("authorization");

  private final ServedModel model;
  private final GenerationPipeline pipeline;
  private final Admission admission;
  private final ApiKeys keys;
  private final GatewayMetrics metrics;

  public GenerateGrpcService(
      ServedModel model,
      GenerationPipeline pipeline,
      Admission admission,
      ApiKeys keys,
      GatewayMetrics metrics) {
    this.model = model;
    this.pipeline = pipeline;
    this.admission = admission;
    this.keys = keys;
    this.metrics = metrics;
  }

  /** Hands the {@code authorization} metadata to the call, where keys are checked. */
  public static ServerInterceptor authorizationInterceptor() {
    return new ServerInterceptor() {
      @Override
      public <Q, R> ServerCall.Listener<Q> interceptCall(
          ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
        Context ctx = Context.current().withValue(CALLER_AUTHORIZATION, headers.get(AUTHORIZATION));
        return Contexts.interceptCall(ctx, call, headers, next);
      }
    };
  }

  @Override
  public void generate(GenerateRequest r, StreamObserver<GenerateResponse> plainOut) {
    ServerCallStreamObserver<GenerateResponse> out =
        (ServerCallStreamObserver<GenerateResponse>) plainOut;
    GenerationRequest request;
    ApiKeys.Key key;
    try {
      key = keys.authenticate(CALLER_AUTHORIZATION.get());
      request = toGeneration(r, key);
      ApiKeys.admit(key, request.promptIds().length + request.sampling().getMaxTokens());
    } catch (ApiException e) {
      out.onError(toStatus(e).asRuntimeException());
      return;
    }
    AtomicReference<Cancellable> running = new AtomicReference<>(() -> {});
    CompletableFuture<Admission.Slot> slot = admission.acquire();
    TenantKvTokens kv = new TenantKvTokens(metrics, request.tenant());
    // From the call's arrival, as the HTTP API times its requests: TTFT includes the queue.
    RequestTimer timer =
        new RequestTimer(metrics, request.promptIds().length, 1, request.sampling().getMaxTokens());
    // A call cancelled (or past its deadline) hears nothing more from the pipeline, so its place
    // is given back here; releasing twice is harmless.
    out.setOnCancelHandler(
        () -> {
          running.get().cancel();
          kv.release();
          if (!slot.cancel(false)) {
            slot.thenAccept(Admission.Slot::release);
          }
        });
    slot.whenComplete(
        (held, e) -> {
          if (e != null) {
            if (!out.isCancelled()) {
              out.onError(toStatus(ApiException.of(e)).asRuntimeException());
            }
            return;
          }
          if (out.isCancelled()) {
            held.release();
            return;
          }
          timer.admitted();
          running.set(
              pipeline.start(request, new Forwarder(request, out, held, metrics, timer, kv)));
        });
  }

  /**
   * Sends each chunk on as it comes (the last carries the usage), counted in the same metrics as
   * the HTTP API's requests.
   */
  private static final class Forwarder implements GenerationListener {
    final GenerationRequest request;
    final ServerCallStreamObserver<GenerateResponse> out;
    final Admission.Slot slot;
    final GatewayMetrics metrics;
    final RequestTimer timer;
    final TenantKvTokens kv;
    int cached;
    int generated;

    Forwarder(
        GenerationRequest request,
        ServerCallStreamObserver<GenerateResponse> out,
        Admission.Slot slot,
        GatewayMetrics metrics,
        RequestTimer timer,
        TenantKvTokens kv) {
      this.request = request;
      this.out = out;
      this.slot = slot;
      this.metrics = metrics;
      this.timer = timer;
      this.kv = kv;
    }

    @Override
    public void onPrefilled(int cachedTokens, List<SampledToken> promptLogprobs) {
      cached = cachedTokens;
      metrics.prompt(request.tenant(), request.promptIds().length, cachedTokens);
      kv.add(request.promptIds().length);
    }

    @Override
    public void onChunk(List<SampledToken> tokens, String text, FinishReason finish) {
      generated += tokens.size();
      kv.add(tokens.size());
      timer.tokens(tokens.size(), finish);
      GenerateResponse.Builder b =
          GenerateResponse.newBuilder()
              .setRequestId(request.requestId())
              .setText(text)
              .addAllTokens(tokens)
              .setFinishReason(finish);
      if (finish != FinishReason.FINISH_REASON_UNSPECIFIED) {
        b.setUsage(
            Usage.newBuilder()
                .setPromptTokens(request.promptIds().length)
                .setCompletionTokens(generated)
                .setCachedTokens(cached));
      }
      out.onNext(b.build());
    }

    @Override
    public void onDone() {
      kv.release();
      timer.finished(generated);
      slot.release();
      out.onCompleted();
    }

    @Override
    public void onError(ApiException e) {
      kv.release();
      slot.release();
      out.onError(toStatus(e).asRuntimeException());
    }
  }

  private GenerationRequest toGeneration(GenerateRequest r, ApiKeys.Key key) {
    model.checkServed(r.getModel());
    int[] prompt =
        switch (r.getInputCase()) {
          case PROMPT -> model.encode(r.getPrompt());
          case CHAT ->
              model.encodeChat(messages(r.getChat().getMessagesList()), options(r.getChat()));
          case INPUT_NOT_SET ->
              throw ApiException.badRequest("prompt or chat is required", "input");
        };
    SamplingParams.Builder s = r.getSampling().toBuilder();
    s.setMaxTokens(
        model.maxTokens(
            prompt.length, s.hasMaxTokens() ? s.getMaxTokens() : null, "prompt", "max_tokens"));
    String tenant = ApiKeys.tenantOf(key);
    // The tracing interceptor made the call's server span current.
    return new GenerationRequest(
        "gen-" + UUID.randomUUID().toString().replace("-", ""),
        tenant,
        prompt,
        s.build(),
        -1,
        io.opentelemetry.context.Context.current(),
        deadline());
  }

  /** The call's gRPC deadline, as the limit of every stage call made for it. */
  private static java.time.Instant deadline() {
    Deadline d = Context.current().getDeadline();
    return d == null
        ? GenerationRequest.NO_DEADLINE
        : java.time.Instant.now().plusNanos(d.timeRemaining(TimeUnit.NANOSECONDS));
  }

  private static List<Map<String, Object>> messages(List<ChatMessage> messages) {
    List<Map<String, Object>> out = new ArrayList<>();
    for (ChatMessage m : messages) {
      Map<String, Object> map = new LinkedHashMap<>();
      map.put("role", m.getRole());
      map.put("content", m.getContent());
      if (!m.getToolCallsJson().isEmpty()) {
        map.put("tool_calls", json(m.getToolCallsJson(), "tool_calls_json"));
      }
      if (!m.getToolCallId().isEmpty()) {
        map.put("tool_call_id", m.getToolCallId());
      }
      out.add(map);
    }
    return out;
  }

  private static ChatOptions options(ChatMessages chat) {
    Map<String, Object> kwargs = Map.of();
    if (!chat.getChatTemplateKwargsJson().isEmpty()) {
      if (!(json(chat.getChatTemplateKwargsJson(), "chat_template_kwargs_json")
          instanceof Map<?, ?> object)) {
        throw ApiException.badRequest(
            "chat_template_kwargs_json must be a JSON object", "chat_template_kwargs_json");
      }
      @SuppressWarnings("unchecked")
      Map<String, Object> variables = (Map<String, Object>) object;
      kwargs = variables;
    }
    return ChatOptions.of(
        chat.hasAddGenerationPrompt() ? chat.getAddGenerationPrompt() : null,
        chat.getContinueFinalMessage(),
        kwargs);
  }

  /** A JSON field of a message as the template reads it: maps, lists, strings, numbers. */
  private static Object json(String text, String field) {
    try {
      return JSON.readValue(text);
    } catch (JacksonException e) {
      throw ApiException.badRequest(field + " is not valid JSON: " + e.getOriginalMessage(), field);
    }
  }

  private static final ObjectReader JSON = JsonMapper.builder().build().readerFor(Object.class);

  static Status toStatus(ApiException e) {
    Status s =
        switch (e.httpStatus()) {
          case 400, 413 -> Status.INVALID_ARGUMENT;
          case 401 -> Status.UNAUTHENTICATED;
          case 404 -> Status.NOT_FOUND;
          case 429 -> Status.RESOURCE_EXHAUSTED;
          case 503 -> Status.UNAVAILABLE;
          default -> Status.INTERNAL;
        };
    return s.withDescription(e.getMessage());
  }
}
