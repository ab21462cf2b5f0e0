package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.config.GatewayProperties;
import io.disaggmoe.gateway.core.Admission;
import io.disaggmoe.gateway.core.ApiException;
import io.disaggmoe.gateway.core.ApiKeys;
import io.disaggmoe.gateway.core.Cancellable;
import io.disaggmoe.gateway.core.GatewayMetrics;
import io.disaggmoe.gateway.core.GenAiSpan;
import io.disaggmoe.gateway.core.GenerationListener;
import io.disaggmoe.gateway.core.GenerationPipeline;
import io.disaggmoe.gateway.core.GenerationRequest;
import io.disaggmoe.gateway.core.RequestTimer;
import io.disaggmoe.gateway.core.ServedModel;
import io.disaggmoe.gateway.core.TenantKvTokens;
import io.disaggmoe.proto.v1.FinishReason;
import io.disaggmoe.proto.v1.SampledToken;
import io.disaggmoe.proto.v1.SamplingParams;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import org.springframework.core.io.buffer.DataBufferUtils;
import org.springframework.http.HttpStatus;
import org.springframework.stereotype.Component;
import org.springframework.web.server.ServerWebExchange;
import reactor.core.publisher.Flux;
import reactor.core.publisher.Mono;
import reactor.core.publisher.SignalType;
import reactor.core.publisher.Sinks;
import reactor.core.scheduler.Scheduler;
import reactor.core.scheduler.Schedulers;
import tools.jackson.databind.JsonNode;

/**
 * The OpenAI-compatible API: completions and chat completions (streamed as server-sent events or
 * whole), models, and vLLM's tokenize and detokenize. Bodies are read and checked here so every
 * malformed request gets OpenAI's error envelope; generation runs through the pipeline, and a
 * client that goes away cancels its request in every stage.
 */
@Component
public final class OpenAiController {
  private final ServedModel model;
  private final OpenAiRequestParser parser;
  private final ResponsesRequestParser responses;
  private final GenerationPipeline pipeline;
  private final Admission admission;
  private final ApiKeys keys;
  private final GatewayMetrics metrics;
  private final int maxBodyBytes;

  /**
   * Parsing and tokenizing run here, not on the HTTP event loops: a long prompt takes a core for
   * its tokenizing (0.5 s for 0.5 MB; a 7.8 MB one for {@code /tokenize}, 15 s), and four of them
   * on the loops held every request and every stream in flight. A thread each, as Reactor's bounded
   * elastic scheduler gives, so that a short request shares the cores with long ones rather than
   * queueing behind them.
   */
  private static final Scheduler PARSING =
      Schedulers.newBoundedElastic(
          Schedulers.DEFAULT_BOUNDED_ELASTIC_SIZE,
          Schedulers.DEFAULT_BOUNDED_ELASTIC_QUEUESIZE,
          "gateway-parse",
          60,
          true);

  /** How long an event waits for another thread's emission into the same choice to end. */
  private static final Duration EMIT_WAIT = Duration.ofSeconds(5);

  OpenAiController(
      ServedModel model,
      GenerationPipeline pipeline,
      Admission admission,
      ApiKeys keys,
      GatewayMetrics metrics,
      GatewayProperties limits) {
    this.model = model;
    this.parser = new OpenAiRequestParser(model, limits.maxN());
    this.responses = new ResponsesRequestParser(parser);
    this.pipeline = pipeline;
    this.admission = admission;
    this.keys = keys;
    this.metrics = metrics;
    this.maxBodyBytes = (int) Math.min(Integer.MAX_VALUE, limits.maxBody().toBytes());
  }

  Mono<Void> models(ServerWebExchange ex) {
    keys.authenticate(authorization(ex));
    var root = Json.object().put("object", "list");
    root.putArray("data").add(modelCard());
    return HttpReplies.json(ex, HttpStatus.OK, root.toString());
  }

  Mono<Void> model(String id, ServerWebExchange ex) {
    keys.authenticate(authorization(ex));
    if (!id.equals(model.id())) {
      throw ApiException.notFound(
          "The model '" + id + "' does not exist", "model", "model_not_found");
    }
    return HttpReplies.json(ex, HttpStatus.OK, modelCard().toString());
  }

  private tools.jackson.databind.node.ObjectNode modelCard() {
    return Json.object()
        .put("id", model.id())
        .put("object", "model")
        .put("created", 0)
        .put("owned_by", "disaggmoe")
        .put("root", model.id())
        .put("max_model_len", model.maxModelLen());
  }

  Mono<Void> chat(ServerWebExchange ex) {
    ApiKeys.Key key = keys.authenticate(authorization(ex));
    return body(ex).flatMap(b -> generate(ex, key, parser.chat(OpenAiRequestParser.parseBody(b))));
  }

  /**
   * OpenAI's Responses API, over the same pipeline as a chat (see {@link ResponsesRequestParser}).
   */
  Mono<Void> responses(ServerWebExchange ex) {
    ApiKeys.Key key = keys.authenticate(authorization(ex));
    return body(ex)
        .flatMap(b -> generate(ex, key, responses.parse(OpenAiRequestParser.parseBody(b))));
  }

  Mono<Void> completions(ServerWebExchange ex) {
    ApiKeys.Key key = keys.authenticate(authorization(ex));
    return body(ex)
        .flatMap(b -> generate(ex, key, parser.completion(OpenAiRequestParser.parseBody(b))));
  }

  Mono<Void> tokenize(ServerWebExchange ex) {
    keys.authenticate(authorization(ex));
    return body(ex)
        .flatMap(
            b -> {
              JsonNode body = OpenAiRequestParser.parseBody(b);
              parser.model(body);
              int[] ids = parser.tokenize(body);
              var root = Json.object();
              var list = root.putArray("tokens");
              for (int id : ids) {
                list.add(id);
              }
              root.put("count", ids.length).put("max_model_len", model.maxModelLen());
              return HttpReplies.json(ex, HttpStatus.OK, root.toString());
            });
  }

  Mono<Void> detokenize(ServerWebExchange ex) {
    keys.authenticate(authorization(ex));
    return body(ex)
        .flatMap(
            b -> {
              JsonNode body = OpenAiRequestParser.parseBody(b);
              parser.model(body);
              String text = model.decode(parser.tokenIds(body));
              return HttpReplies.json(
                  ex, HttpStatus.OK, Json.object().put("prompt", text).toString());
            });
  }

  /**
   * The body's bytes, which JSON parses without a string made of them first; delivered on {@link
   * #PARSING}, where the request is parsed and tokenized.
   */
  private Mono<byte[]> body(ServerWebExchange ex) {
    return DataBufferUtils.join(ex.getRequest().getBody(), maxBodyBytes)
        .map(
            buffer -> {
              try {
                byte[] bytes = new byte[buffer.readableByteCount()];
                buffer.read(bytes);
                return bytes;
              } finally {
                DataBufferUtils.release(buffer);
              }
            })
        .defaultIfEmpty(new byte[0])
        .publishOn(PARSING);
  }

  private static String authorization(ServerWebExchange ex) {
    return ex.getRequest().getHeaders().getFirst("Authorization");
  }

  /**
   * The reply to a parsed request. Nothing is taken (quota, admission, a span) until the reply is
   * subscribed, so a client gone before that leaves nothing held.
   */
  private Mono<Void> generate(ServerWebExchange ex, ApiKeys.Key key, OpenAiRequest request) {
    return Mono.defer(() -> reply(ex, key, request));
  }

  private Mono<Void> reply(ServerWebExchange ex, ApiKeys.Key key, OpenAiRequest request) {
    ApiKeys.admit(key, request.tokenBudget());
    String tenant = ApiKeys.tenantOf(key);
    String uuid = UUID.randomUUID().toString().replace("-", "");
    long created = System.currentTimeMillis() / 1000;
    String id;
    ReplyFormat assembler;
    if (request.responses() != null) {
      id = "resp_" + uuid;
      assembler = new ResponsesAssembler(request, id, created);
    } else {
      id = (request.chat() ? "chatcmpl-" : "cmpl-") + uuid;
      assembler = new ResponseAssembler(request, model, id, created);
    }
    RequestTimer timer =
        new RequestTimer(
            metrics,
            request.prompts().stream().mapToInt(p -> p.length).sum(),
            request.n(),
            request.sampling().getMaxTokens());
    GenAiSpan span =
        GenAiSpan.start(
            HttpTraceContext.of(ex),
            request.chat() ? "chat" : "text_completion",
            request.model(),
            request.sampling().getMaxTokens(),
            request.sampling().getTemperature(),
            request.choices());
    CompletableFuture<Admission.Slot> place = admission.acquire(request.choices());
    StartedChoices started = new StartedChoices();
    return Mono.fromFuture(place)
        .flatMap(
            admitted -> {
              timer.admitted();
              // An error after the first chunk becomes an event of the reply, so it is caught
              // here, where the span still hears of it.
              Flux<ChoiceEvent> timed =
                  choices(id, tenant, request, assembler, span.context(), started)
                      .doOnError(e -> endSpan(span, id, assembler, e))
                      .doOnNext(
                          e -> {
                            if (!e.isPrefilled()) {
                              timer.tokens(e.tokens().size(), e.finish());
                            }
                          });
              if (request.stream()) {
                return HttpReplies.eventStream(
                    ex, stream(timed, assembler, timer), assembler::error);
              }
              return timed
                  .doOnNext(assembler::accept)
                  .then(Mono.fromCallable(assembler::response))
                  .doOnSuccess(x -> timer.finished(assembler.completionTokens()))
                  .flatMap(json -> HttpReplies.json(ex, HttpStatus.OK, json));
            })
        // The place is held until the reply ends, however it ends: cancelled while waiting, the
        // future is cancelled; cancelled after, the slot is released (at most once).
        .doOnError(e -> endSpan(span, id, assembler, e))
        .doOnCancel(
            () ->
                endSpan(
                    span,
                    id,
                    assembler,
                    new java.util.concurrent.CancellationException("the client went away")))
        .doOnSuccess(done -> endSpan(span, id, assembler, null))
        .doFinally(
            signal -> {
              // The choices started before anything subscribed to them; a reply that did not
              // complete may have left some running (cancelling an ended one does nothing).
              if (signal != SignalType.ON_COMPLETE) {
                started.cancelAll();
              }
              place.thenAccept(Admission.Slot::release);
            });
  }

  private static void endSpan(GenAiSpan span, String id, ReplyFormat assembler, Throwable error) {
    span.end(
        id,
        assembler.promptTokens(),
        assembler.completionTokens(),
        assembler.finishReasons(),
        error);
  }

  private Flux<String> stream(Flux<ChoiceEvent> events, ReplyFormat assembler, RequestTimer t) {
    Flux<String> frames = events.concatMapIterable(assembler::accept);
    Flux<String> tail =
        Flux.defer(
            () -> {
              t.finished(assembler.completionTokens());
              return Flux.fromIterable(assembler.end());
            });
    return frames.concatWith(tail);
  }

  /**
   * Every choice of the request (prompts x n), each through the pipeline, merged. Each is started
   * here, and lands in {@code started}.
   */
  private Flux<ChoiceEvent> choices(
      String id,
      String tenant,
      OpenAiRequest request,
      ReplyFormat assembler,
      io.opentelemetry.context.Context trace,
      StartedChoices started) {
    List<Flux<ChoiceEvent>> all = new ArrayList<>();
    for (int p = 0; p < request.prompts().size(); p++) {
      for (int i = 0; i < request.n(); i++) {
        int index = p * request.n() + i;
        SamplingParams sampling = request.sampling();
        if (sampling.hasSeed() && i > 0) {
          // n seeded choices differ from each other and are each reproducible.
          sampling = sampling.toBuilder().setSeed(sampling.getSeed() + i).build();
        }
        GenerationRequest g =
            new GenerationRequest(
                id + "-" + index,
                tenant,
                request.prompts().get(p),
                sampling,
                // Echoed prompts are scored like the completion: OpenAI's legacy logprobs.
                request.echo() ? request.completionLogprobs() : -1,
                trace,
                // OpenAI's API carries no deadline: a client that gives up disconnects, which
                // cancels the request.
                GenerationRequest.NO_DEADLINE);
        all.add(choice(index, g, assembler.workers(index), started));
      }
    }
    return Flux.merge(all);
  }

  /**
   * One choice, started at once rather than when the reply subscribes: the prefill computes while
   * the reply's chain is put together and subscribed (a few hundred microseconds of the time to the
   * first token), its events held until then.
   */
  private Flux<ChoiceEvent> choice(
      int index, GenerationRequest g, WorkerIds workers, StartedChoices started) {
    Sinks.Many<ChoiceEvent> events = Sinks.many().unicast().onBackpressureBuffer();
    // Events come from the transport's threads, the deadline timer's among them: a second
    // emitter waits for the first rather than fail.
    Sinks.EmitFailureHandler serialize = Sinks.EmitFailureHandler.busyLooping(EMIT_WAIT);
    TenantKvTokens kv = new TenantKvTokens(metrics, g.tenant());
    Cancellable running =
        pipeline.start(
            g,
            new GenerationListener() {
              @Override
              public void onPrefilled(int cachedTokens, List<SampledToken> promptLogprobs) {
                metrics.prompt(g.tenant(), g.promptIds().length, cachedTokens);
                kv.add(g.promptIds().length);
                events.emitNext(
                    ChoiceEvent.prefilled(index, cachedTokens, promptLogprobs), serialize);
              }

              @Override
              public void onPrefillInstance(String address) {
                workers.prefill(address);
              }

              @Override
              public void onDecodeInstance(String address) {
                workers.decode(address);
              }

              @Override
              public void onChunk(List<SampledToken> tokens, String text, FinishReason finish) {
                kv.add(tokens.size());
                events.emitNext(new ChoiceEvent(index, -1, tokens, text, finish), serialize);
              }

              @Override
              public void onDone() {
                kv.release();
                events.emitComplete(serialize);
              }

              @Override
              public void onError(ApiException e) {
                kv.release();
                events.emitError(e, serialize);
              }
            });
    Cancellable stop =
        () -> {
          running.cancel();
          kv.release();
        };
    started.add(stop);
    return events.asFlux().doOnCancel(stop::cancel);
  }
}
