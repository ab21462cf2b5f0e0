package io.disaggmoe.proto.testing;

import static org.assertj.core.api.Assertions.assertThat;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.google.protobuf.ByteString;
import com.google.protobuf.MessageLite;
import io.disaggmoe.proto.v1.Tensor;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.ServiceDescriptor;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Sends hostile messages to a gRPC service and checks every answer: each call carries messages a
 * fuzzer chose (built by the service's own generator, or raw bytes that may not parse at all), may
 * be abandoned half way, and must end with a status other than UNKNOWN or INTERNAL. Counts the
 * statuses for the run's report.
 */
public final class HostileCalls {
  /** Builds one message for a method from the fuzzer's data: hostile, but of the method's type. */
  public interface Generator {
    MessageLite message(String methodName, FuzzedDataProvider data);
  }

  private static final MethodDescriptor.Marshaller<byte[]> BYTES =
      new MethodDescriptor.Marshaller<>() {
        @Override
        public InputStream stream(byte[] value) {
          return new ByteArrayInputStream(value);
        }

        @Override
        public byte[] parse(InputStream stream) {
          try {
            return stream.readAllBytes();
          } catch (IOException e) {
            throw new IllegalStateException(e);
          }
        }
      };

  private final Channel channel;
  private final List<MethodDescriptor<?, ?>> methods;
  private final Generator generator;
  private final Map<Status.Code, Integer> counts = new EnumMap<>(Status.Code.class);
  private int messages;

  public HostileCalls(Channel channel, ServiceDescriptor service, Generator generator) {
    this.channel = channel;
    this.methods = List.copyOf(service.getMethods());
    this.generator = generator;
  }

  /**
   * One call: a method, one to four messages (each generated or raw), then a half-close or, on a
   * stream, sometimes a cancel half way. Fails the test if the call ends UNKNOWN or INTERNAL, or
   * does not end within {@code timeoutSeconds}.
   */
  public void call(FuzzedDataProvider data, int timeoutSeconds) throws Exception {
    MethodDescriptor<?, ?> m = methods.get(data.consumeInt(0, methods.size() - 1));
    boolean streaming = !m.getType().clientSendsOneMessage();
    int count = streaming ? data.consumeInt(1, 4) : 1;
    // Either side streaming: the call may be cancelled once its messages are sent.
    boolean abandon = m.getType() != MethodDescriptor.MethodType.UNARY && data.consumeBoolean();
    String name = m.getBareMethodName();
    MethodDescriptor<byte[], byte[]> raw =
        MethodDescriptor.<byte[], byte[]>newBuilder()
            .setFullMethodName(m.getFullMethodName())
            .setType(m.getType())
            .setRequestMarshaller(BYTES)
            .setResponseMarshaller(BYTES)
            .build();
    ClientCall<byte[], byte[]> call =
        channel.newCall(
            raw, CallOptions.DEFAULT.withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS));
    CompletableFuture<Status> closed = new CompletableFuture<>();
    call.start(
        new ClientCall.Listener<>() {
          @Override
          public void onMessage(byte[] message) {
            call.request(1);
          }

          @Override
          public void onClose(Status status, Metadata trailers) {
            closed.complete(status);
          }
        },
        new Metadata());
    call.request(1);
    for (int i = 0; i < count; i++) {
      byte[] bytes =
          data.consumeBoolean()
              ? data.consumeBytes(data.consumeInt(0, 4096))
              : generator.message(name, data).toByteArray();
      call.sendMessage(bytes);
      messages++;
    }
    if (abandon && streaming) {
      call.cancel("abandoned half way by the fuzz suite", null);
    } else if (abandon) {
      // A server stream (Decode): the request runs, then its reader goes away.
      call.halfClose();
      call.cancel("abandoned half way by the fuzz suite", null);
    } else {
      call.halfClose();
    }
    Status status = closed.get(timeoutSeconds + 5L, TimeUnit.SECONDS);
    synchronized (counts) {
      counts.merge(status.getCode(), 1, Integer::sum);
    }
    assertThat(status.getCode())
        .as("status of %s: %s", name, status.getDescription())
        .isNotIn(Status.Code.UNKNOWN, Status.Code.INTERNAL);
  }

  /** Fails unless the server behind {@code channel} answers the gRPC health check SERVING. */
  public static void assertServing(Channel channel) {
    assertThat(
            HealthGrpc.newBlockingStub(channel)
                .withDeadlineAfter(10, TimeUnit.SECONDS)
                .check(HealthCheckRequest.getDefaultInstance())
                .getStatus())
        .as("health after the hostile calls")
        .isEqualTo(HealthCheckResponse.ServingStatus.SERVING);
  }

  /** Messages sent so far. */
  public int messages() {
    return messages;
  }

  /** Calls ended, by status. */
  public Map<Status.Code, Integer> counts() {
    synchronized (counts) {
      return new EnumMap<>(counts);
    }
  }

  /** One line for the run's report: messages and calls by status. */
  public String report(String service) {
    return "fuzz " + service + ": " + messages + " messages, calls by status " + counts();
  }

  /**
   * A tensor meant to be {@code dtype} of {@code shape}, which the fuzzer may give another dtype,
   * other dimensions, data of another length, or non-finite values.
   */
  public static Tensor tensor(FuzzedDataProvider data, String dtype, long... shape) {
    Tensor.Builder t = Tensor.newBuilder();
    t.setDtype(
        data.consumeInt(0, 7) == 0
            ? data.pickValue(List.of("F32", "BF16", "F16", "I32", "I64", "F8_E4M3", "", "f32"))
            : dtype);
    long elements = 1;
    boolean shapely = data.consumeInt(0, 3) != 0;
    int dims = shapely ? shape.length : data.consumeInt(0, 4);
    for (int i = 0; i < dims; i++) {
      long d = shapely && i < shape.length && data.consumeBoolean() ? shape[i] : hostileSize(data);
      t.addShape(d);
      elements *= Math.max(d, 0);
    }
    int width = t.getDtype().equals("BF16") || t.getDtype().equals("F16") ? 2 : 4;
    if (elements > 0 && elements <= 1 << 16 && data.consumeBoolean()) {
      ByteBuffer b = ByteBuffer.allocate((int) elements * width).order(ByteOrder.LITTLE_ENDIAN);
      for (long i = 0; i < elements; i++) {
        if (width == 2) {
          b.putShort(data.consumeShort());
        } else if (t.getDtype().startsWith("I")) {
          b.putInt(data.consumeInt(-2, 300));
        } else {
          b.putFloat(data.consumeBoolean() ? data.consumeFloat() * 0.1f : hostileFloat(data));
        }
      }
      t.setData(ByteString.copyFrom(b.array()));
    } else {
      t.setData(ByteString.copyFrom(data.consumeBytes(data.consumeInt(0, 8192))));
    }
    return t.build();
  }

  /** Values a fuzzer should favour in numeric fields: zero, signs, limits and non-finite floats. */
  public static float hostileFloat(FuzzedDataProvider data) {
    return switch (data.consumeInt(0, 7)) {
      case 0 -> Float.NaN;
      case 1 -> Float.POSITIVE_INFINITY;
      case 2 -> Float.NEGATIVE_INFINITY;
      case 3 -> Float.MAX_VALUE;
      case 4 -> -0f;
      default -> data.consumeFloat();
    };
  }

  /** A dimension or count: small, negative, or huge. */
  public static int hostileSize(FuzzedDataProvider data) {
    return switch (data.consumeInt(0, 5)) {
      case 0 -> data.consumeInt();
      case 1 -> Integer.MAX_VALUE;
      case 2 -> -1;
      default -> data.consumeInt(0, 64);
    };
  }
}
