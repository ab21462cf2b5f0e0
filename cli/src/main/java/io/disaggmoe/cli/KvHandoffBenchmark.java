package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.attention.core.KvHandoff;
import io.disaggmoe.proto.wire.StageChannels;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One prompt's cache handed from prefill to decode through a kv-cache-service process, as the roles
 * do it ({@link KvHandoff}): from the prefill's forward pass done (its first token's logits ready)
 * to the decode side holding every block of the prompt as floats. The two sides are separate
 * clients with their own connections, as two role instances are.
 */
final class KvHandoffBenchmark {
  private final String target;
  private final String modelId;
  private final int layers;
  private final int width;
  private final KvDtype dtype;
  private final int promptLength;

  KvHandoffBenchmark(
      String target, String modelId, int layers, int width, KvDtype dtype, int promptLength) {
    this.target = target;
    this.modelId = modelId;
    this.layers = layers;
    this.width = width;
    this.dtype = dtype;
    this.promptLength = promptLength;
  }

  /** Bytes of the prompt's cache in the cache dtype: what travels each way. */
  long bytes() {
    return (long) promptLength * layers * width * dtype.bytesPerValue();
  }

  /**
   * Median and 90th percentile of the timed handoffs' milliseconds, with their put and get parts,
   * beside the median time of the same bytes there and back over a raw loopback TCP stream.
   */
  Map<String, Object> run(int warmup, int rounds) {
    SplittableRandom random = new SplittableRandom(1);
    float[] rows = new float[layers * promptLength * width];
    for (int i = 0; i < rows.length; i++) {
      rows[i] = (float) random.nextGaussian();
    }
    double[] total = new double[rounds];
    double[] put = new double[rounds];
    double[] wire = new double[rounds];
    Duration deadline = Duration.ofMinutes(1);
    try (LoopbackTcpStream tcp = new LoopbackTcpStream(payloads(bytes()));
        GrpcKvCacheClient prefill =
            GrpcKvCacheClient.connect(
                StageChannels.plaintext(), target, modelId, layers, width, dtype, deadline);
        GrpcKvCacheClient decode =
            GrpcKvCacheClient.connect(
                StageChannels.plaintext(), target, modelId, layers, width, dtype, deadline)) {
      for (int r = -warmup; r < rounds; r++) {
        // A new prompt each round: its blocks are new to the cache, as a fresh request's are.
        int[] prompt = random.ints(promptLength, 0, 1 << 20).toArray();
        String requestId = "handoff-" + r;
        List<byte[]> hashes = prefill.blockHashes("", prompt);
        long start = System.nanoTime();
        KvHandoff.publish(
            prefill,
            "",
            requestId,
            hashes,
            0,
            promptLength,
            (from, to) -> slice(rows, from, to),
            Duration.ofMinutes(1));
        long published = System.nanoTime();
        List<LatentBlock> held = KvHandoff.fetch(decode, "", requestId, hashes, promptLength).all();
        long end = System.nanoTime();
        check(held, rows, r == -warmup);
        decode.unpin(requestId);
        // The same bytes there and back over a raw TCP stream, between the rounds.
        double stream = tcp.pass() + tcp.pass();
        if (r >= 0) {
          total[r] = (end - start) / 1e6;
          put[r] = (published - start) / 1e6;
          wire[r] = stream * 1e3;
        }
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    double[] get = new double[rounds];
    for (int i = 0; i < rounds; i++) {
      get[i] = total[i] - put[i];
    }
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("handoff_ms", KvBenchCommand.round3(percentile(total, 0.5)));
    out.put("handoff_p90_ms", KvBenchCommand.round3(percentile(total, 0.9)));
    out.put("handoff_put_ms", KvBenchCommand.round3(percentile(put, 0.5)));
    out.put("handoff_get_ms", KvBenchCommand.round3(percentile(get, 0.5)));
    double tcpMs = percentile(wire, 0.5);
    out.put("tcp_stream_ms", KvBenchCommand.round3(tcpMs));
    out.put("fraction_of_tcp", KvBenchCommand.round3(tcpMs / percentile(total, 0.5)));
    out.put("prompt_len", promptLength);
    out.put("kv_dtype", dtype.safetensorsName());
    out.put("handoff_bytes", bytes());
    return out;
  }

  /**
   * Rows {@code [from, to)} of every layer, {@code [layers, to - from, width]}, as a cache exports.
   */
  private float[] slice(float[] rows, int from, int to) {
    int n = to - from;
    float[] out = new float[layers * n * width];
    for (int l = 0; l < layers; l++) {
      System.arraycopy(rows, (l * promptLength + from) * width, out, l * n * width, n * width);
    }
    return out;
  }

  /** Every token arrived; on the first round, every value as the cache dtype keeps it. */
  private void check(List<LatentBlock> held, float[] rows, boolean values) {
    int tokens = held.stream().mapToInt(LatentBlock::tokens).sum();
    if (tokens != promptLength) {
      throw new IllegalStateException(
          "decode holds " + tokens + " of " + promptLength + " prompt tokens after the handoff");
    }
    if (!values) {
      return;
    }
    int from = 0;
    for (LatentBlock b : held) {
      float[] want = slice(rows, from, from + b.tokens());
      float[] sent = new float[want.length];
      dtype.decode(ByteBuffer.wrap(dtype.encode(want)), sent, 0);
      if (!Arrays.equals(sent, b.data())) {
        throw new IllegalStateException("tokens " + from + ".. came back changed");
      }
      from += b.tokens();
    }
  }

  private static double percentile(double[] values, double q) {
    double[] sorted = values.clone();
    Arrays.sort(sorted);
    return sorted[Math.min(sorted.length - 1, (int) Math.floor(q * sorted.length))];
  }

  private static List<byte[]> payloads(long bytes) {
    List<byte[]> out = new ArrayList<>();
    for (long left = bytes; left > 0; left -= 1 << 20) {
      out.add(new byte[(int) Math.min(left, 1 << 20)]);
    }
    return out;
  }
}
