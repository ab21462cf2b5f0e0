package io.disaggmoe.cli;

import io.disaggmoe.attention.client.PoolConnection;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.proto.Tensors;
import io.disaggmoe.proto.v1.DispatchRequest;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench rpc}: the round trip of one expert dispatch of 64 tokens (by default) to
 * an expert-service process, beside a raw loopback TCP echo of the same bytes.
 *
 * <p>Every slot of the dispatch is -1 (no expert runs), so the time is the wire path alone:
 * encoding, gRPC over loopback, the pool's checks, and the [64, hidden] reply decoded into floats,
 * as an attention instance receives it.
 */
@Command(
    name = "rpc",
    mixinStandardHelpOptions = true,
    description = "Expert dispatch round trip vs raw TCP echo, p50 and p99.")
final class RpcBenchCommand implements Callable<Integer> {
  private static final int BLOCK = 100;

  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--tokens",
      defaultValue = "64",
      description =
          "tokens per dispatch (default ${DEFAULT-VALUE}); a small count times the fixed cost of"
              + " a round trip")
  int tokens;

  @Option(
      names = "--iterations",
      defaultValue = "2000",
      description = "timed round trips of each kind")
  int iterations;

  @Option(
      names = "--warmup",
      defaultValue = "20000",
      description =
          "untimed round trips of each kind first: the JIT of two JVMs sharing 2 cores settles"
              + " after ~10 s")
  int warmup;

  @Option(names = "--json", description = "print one JSON object")
  boolean json;

  @Override
  public Integer call() throws Exception {
    if (tokens < 1 || iterations < 1 || warmup < 0) {
      throw new IllegalArgumentException(
          "--tokens and --iterations must be >= 1 and --warmup >= 0");
    }
    ModelConfig c = ModelConfigJson.read(model);
    DispatchRequest request = request(c, tokens);
    long[] dispatch = new long[iterations];
    long[] echo = new long[iterations];
    try (ExpertPoolProcesses pool = ExpertPoolProcesses.start(model, 1, List.of());
        PoolConnection connection =
            PoolConnection.open(
                pool.targets().get(0), ExpertPoolOptions.DEADLINE, pool.channels());
        Echo tcp = Echo.start(request.getSerializedSize())) {
      RoundTrip rpc =
          () -> connection.send(request, ExpertPoolOptions.DEADLINE).get(60, TimeUnit.SECONDS);
      for (int i = 0; i < warmup; i++) {
        rpc.run();
        tcp.run();
      }
      // Alternating blocks, so that both see the same machine: on shared cores the load drifts
      // within a run, and two separate phases would each catch a different part of it.
      for (int from = 0; from < iterations; from += BLOCK) {
        int to = Math.min(iterations, from + BLOCK);
        time(rpc, dispatch, from, to);
        time(tcp, echo, from, to);
      }
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("dispatch_p50_us", percentile(dispatch, 50));
    out.put("dispatch_p99_us", percentile(dispatch, 99));
    out.put("tcp_echo_p50_us", percentile(echo, 50));
    out.put("tcp_echo_p99_us", percentile(echo, 99));
    out.put("bytes_each_way", request.getSerializedSize());
    if (json) {
      System.out.println(JsonMapper.shared().writeValueAsString(out));
    } else {
      System.out.printf(
          Locale.ROOT,
          "%d tokens x hidden %d (%d bytes each way), %d round trips%n"
              + "expert dispatch  p50 %8.1f us  p99 %8.1f us%n"
              + "raw TCP echo     p50 %8.1f us  p99 %8.1f us%n"
              + "ratio at p50: %.2f%n",
          tokens,
          c.hiddenSize(),
          request.getSerializedSize(),
          iterations,
          out.get("dispatch_p50_us"),
          out.get("dispatch_p99_us"),
          out.get("tcp_echo_p50_us"),
          out.get("tcp_echo_p99_us"),
          (double) out.get("dispatch_p50_us") / (double) out.get("tcp_echo_p50_us"));
    }
    return 0;
  }

  private static DispatchRequest request(ModelConfig c, int tokens) {
    int dim = c.hiddenSize();
    int k = Math.max(1, c.numExpertsPerTok());
    SplittableRandom random = new SplittableRandom(1);
    float[] hidden = new float[tokens * dim];
    for (int i = 0; i < hidden.length; i++) {
      hidden[i] = (float) random.nextGaussian();
    }
    int[] ids = new int[tokens * k];
    Arrays.fill(ids, -1);
    int layer = c.firstKDenseReplace();
    return DispatchRequest.newBuilder()
        .setLayer(layer)
        .setHidden(Tensors.f32(hidden, tokens, dim))
        .setExpertIds(Tensors.i32(ids, tokens, k))
        .setRoutingWeights(Tensors.f32(new float[tokens * k], tokens, k))
        .build();
  }

  private interface RoundTrip {
    void run() throws Exception;
  }

  private static void time(RoundTrip trip, long[] nanos, int from, int to) throws Exception {
    for (int i = from; i < to; i++) {
      long start = System.nanoTime();
      trip.run();
      nanos[i] = System.nanoTime() - start;
    }
  }

  /**
   * A loopback echo: a server thread that sends back every {@code size} bytes it reads, and a
   * client whose round trip sends {@code size} bytes and reads them back.
   */
  private record Echo(ServerSocket server, Socket client, byte[] payload, byte[] back)
      implements RoundTrip, AutoCloseable {
    static Echo start(int size) throws IOException {
      ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
      Thread echoer =
          new Thread(
              () -> {
                try (Socket s = server.accept()) {
                  s.setTcpNoDelay(true);
                  DataInputStream in = new DataInputStream(s.getInputStream());
                  OutputStream out = s.getOutputStream();
                  byte[] buf = new byte[size];
                  while (true) {
                    in.readFully(buf);
                    out.write(buf);
                    out.flush();
                  }
                } catch (IOException done) {
                  // The client closed the connection.
                }
              },
              "tcp echo");
      echoer.setDaemon(true);
      echoer.start();
      Socket client = new Socket(InetAddress.getLoopbackAddress(), server.getLocalPort());
      client.setTcpNoDelay(true);
      byte[] payload = new byte[size];
      new SplittableRandom(2).nextBytes(payload);
      return new Echo(server, client, payload, new byte[size]);
    }

    @Override
    public void run() throws IOException {
      OutputStream out = client.getOutputStream();
      out.write(payload);
      out.flush();
      if (client.getInputStream().readNBytes(back, 0, back.length) < back.length) {
        throw new EOFException("the echo server closed the connection");
      }
    }

    @Override
    public void close() throws IOException {
      client.close();
      server.close();
    }
  }

  private static double percentile(long[] nanos, int p) {
    long[] sorted = nanos.clone();
    Arrays.sort(sorted);
    int i = Math.min(sorted.length - 1, (int) Math.ceil(p / 100.0 * sorted.length) - 1);
    return Math.round(sorted[Math.max(0, i)] / 100.0) / 10.0;
  }
}
