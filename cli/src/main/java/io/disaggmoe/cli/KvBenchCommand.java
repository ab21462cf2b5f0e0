package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.KvDtype;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.proto.wire.StageChannels;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import org.springframework.util.unit.DataSize;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench kv}: latent cache blocks of the model's shape put into and got back from a
 * kv-cache-service process on loopback, beside a raw TCP stream and an in-process memcpy of the
 * same bytes; or a prompt's handoff ({@link KvHandoffBenchmark}), or the disk tier ({@link
 * KvDiskBenchmark}).
 */
@Command(
    name = "kv",
    mixinStandardHelpOptions = true,
    description =
        "KV block put+get GB/s over loopback vs a raw TCP stream and memcpy; with --handoff, one"
            + " prompt's cache from prefill to decode; with --disk, the disk tier's spill and"
            + " promote GB/s.")
final class KvBenchCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "checkpoint directory")
  Path model;

  @Option(
      names = "--blocks",
      defaultValue = "32",
      description = "blocks per round (default ${DEFAULT-VALUE})")
  int blocks;

  @Option(
      names = "--block-tokens",
      defaultValue = "64",
      description = "tokens per block (default ${DEFAULT-VALUE})")
  int blockTokens;

  @Option(
      names = "--rounds",
      defaultValue = "300",
      description = "timed rounds of put then get (default ${DEFAULT-VALUE})")
  int rounds;

  @Option(
      names = "--warmup",
      defaultValue = "100",
      description =
          "untimed rounds first, until both JVMs have compiled the path (default ${DEFAULT-VALUE})")
  int warmup;

  @Option(
      names = "--handoff",
      description =
          "time one prompt's cache from the prefill role's first token to the decode role holding"
              + " every block of it, instead")
  boolean handoff;

  @Option(
      names = "--prompt-len",
      defaultValue = "2048",
      description = "with --handoff: prompt tokens (default ${DEFAULT-VALUE})")
  int promptLength;

  @Option(
      names = "--kv-dtype",
      defaultValue = "f32",
      description = "cache dtype of the blocks: f32 or bf16 (default ${DEFAULT-VALUE})")
  String kvDtype;

  @Option(
      names = "--disk",
      description =
          "time the disk tier in this directory instead: spill and promote GB/s beside the same"
              + " files written and read by one thread")
  Path disk;

  @Option(
      names = "--disk-bytes",
      defaultValue = "1GB",
      description =
          "with --disk: block bytes to put through the disk tier (default ${DEFAULT-VALUE})")
  String diskBytes;

  @Option(names = "--json", description = "print one JSON object")
  boolean json;

  @Override
  public Integer call() throws Exception {
    ModelConfig c = ModelConfigJson.read(model);
    KvDtype dtype = KvDtype.parse(kvDtype);
    if (handoff) {
      return handoff(c, dtype);
    }
    int values = blockTokens * c.numHiddenLayers() * c.latentDim();
    long blockBytes = (long) dtype.bytesPerValue() * values;
    List<LatentBlock> data = new ArrayList<>();
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < blocks; i++) {
      float[] v = new float[values];
      for (int j = 0; j < v.length; j++) {
        v[j] = (float) random.nextGaussian();
      }
      data.add(new LatentBlock(blockTokens, v));
    }
    if (disk != null) {
      Map<String, Object> out =
          new KvDiskBenchmark(disk, data, blockBytes, DataSize.parse(diskBytes).toBytes())
              .run(ModelIdentity.of(model), c.numHiddenLayers(), c.latentDim(), dtype, blockTokens);
      report(
          out,
          String.format(
              Locale.ROOT,
              "%d bytes of %d-byte blocks through a disk tier in %s, memory %d bytes"
                  + " (page cache dropped: %s)%n"
                  + "spill    %8.3f GB/s   (one thread writing and forcing the same files %.3f GB/s;"
                  + " %.3f of it)%n"
                  + "promote  %8.3f GB/s   (one thread reading them %.3f GB/s; %.3f of it)%n",
              out.get("put_bytes"),
              blockBytes,
              disk,
              out.get("memory_bytes"),
              out.get("page_cache_dropped"),
              out.get("spill_gb_s"),
              out.get("disk_write_gb_s"),
              out.get("fraction_of_disk_write"),
              out.get("promote_gb_s"),
              out.get("disk_read_gb_s"),
              out.get("fraction_of_disk_read")));
      return 0;
    }
    // Room for two rounds: older rounds are evicted as in a full cache, and the service's memory
    // stays flat however many rounds run.
    long capacity = 2 * blockBytes * blocks + (64 << 20);
    double putSeconds = 0;
    double getSeconds = 0;
    double tcpSeconds = 0;
    try (LoopbackTcpStream tcp = new LoopbackTcpStream(wireBytes(data, dtype));
        ServiceProcess kv = ServiceProcess.kvCache(capacity, blockTokens);
        GrpcKvCacheClient client =
            GrpcKvCacheClient.connect(
                StageChannels.plaintext(),
                kv.target(),
                ModelIdentity.of(model),
                c.numHiddenLayers(),
                c.latentDim(),
                dtype,
                Duration.ofMinutes(5))) {
      for (int r = 0; r < warmup; r++) {
        round(client, data, -1 - r);
        tcp.pass();
      }
      // The wire is timed between the rounds, so both see the same load on this machine.
      for (int r = 0; r < rounds; r++) {
        double[] s = round(client, data, r);
        putSeconds += s[0];
        getSeconds += s[1];
        tcpSeconds += tcp.pass() + tcp.pass();
      }
    }
    long oneWay = (long) rounds * blocks * blockBytes;
    long movedBytes = 2 * oneWay;
    double memcpySeconds = memcpy(data, rounds);
    double putGet = movedBytes / (putSeconds + getSeconds) / 1e9;
    double copy = movedBytes / memcpySeconds / 1e9;
    double wire = movedBytes / tcpSeconds / 1e9;
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("put_get_gb_s", round3(putGet));
    out.put("put_gb_s", round3(oneWay / putSeconds / 1e9));
    out.put("get_gb_s", round3(oneWay / getSeconds / 1e9));
    out.put("tcp_stream_gb_s", round3(wire));
    out.put("fraction_of_tcp", round3(putGet / wire));
    out.put("memcpy_gb_s", round3(copy));
    out.put("block_bytes", blockBytes);
    out.put("blocks", blocks * rounds);
    report(
        out,
        String.format(
            Locale.ROOT,
            "%d blocks of %d bytes (%d tokens x %d layers x %d %s), put then get, %d rounds%n"
                + "kv-cache-service put+get  %8.3f GB/s  (put %.3f, get %.3f)%n"
                + "loopback TCP stream       %8.3f GB/s%n"
                + "in-process memcpy         %8.3f GB/s%n"
                + "put+get / TCP stream: %.3f%n",
            blocks,
            blockBytes,
            blockTokens,
            c.numHiddenLayers(),
            c.latentDim(),
            dtype.safetensorsName(),
            rounds,
            putGet,
            out.get("put_gb_s"),
            out.get("get_gb_s"),
            wire,
            copy,
            putGet / wire));
    return 0;
  }

  /** Puts every block under a name of this round, then gets them all back; the seconds of each. */
  private static double[] round(GrpcKvCacheClient client, List<LatentBlock> data, int round) {
    List<byte[]> names = new ArrayList<>();
    for (int i = 0; i < data.size(); i++) {
      names.add(ByteBuffer.allocate(8).putInt(round).putInt(i).array());
    }
    long start = System.nanoTime();
    client.putBlocks(names, data);
    long put = System.nanoTime();
    List<LatentBlock> back = client.getLeading(names);
    long get = System.nanoTime();
    if (back.size() != data.size()) {
      throw new IllegalStateException(
          "got " + back.size() + " of " + data.size() + " blocks back; the budget is too small");
    }
    return new double[] {(put - start) / 1e9, (get - put) / 1e9};
  }

  /** The bytes the client sends for these blocks. */
  private static List<byte[]> wireBytes(List<LatentBlock> data, KvDtype dtype) {
    return data.stream().map(b -> dtype.encode(b.data())).toList();
  }

  /** {@code --handoff}: one prompt's cache from prefill to decode, beside the raw TCP stream. */
  private int handoff(ModelConfig c, KvDtype dtype) throws Exception {
    long bytes = (long) promptLength * c.numHiddenLayers() * c.latentDim() * dtype.bytesPerValue();
    // Room for two prompts: an older one is evicted once decode has unpinned it.
    long capacity = 2 * bytes + (64 << 20);
    Map<String, Object> out;
    try (ServiceProcess kv = ServiceProcess.kvCache(capacity, blockTokens)) {
      out =
          new KvHandoffBenchmark(
                  kv.target(),
                  ModelIdentity.of(model),
                  c.numHiddenLayers(),
                  c.latentDim(),
                  dtype,
                  promptLength)
              .run(warmup, rounds);
    }
    report(
        out,
        String.format(
            Locale.ROOT,
            "handoff of a %d-token prompt (%d bytes of %s each way), median of %d rounds%n"
                + "prefill's first token to decode holding every block  %8.3f ms"
                + "  (p90 %.3f; put %.3f, get %.3f)%n"
                + "the same bytes there and back over a loopback TCP stream %8.3f ms  (%.3f of it)%n",
            promptLength,
            bytes,
            dtype.safetensorsName(),
            rounds,
            out.get("handoff_ms"),
            out.get("handoff_p90_ms"),
            out.get("handoff_put_ms"),
            out.get("handoff_get_ms"),
            out.get("tcp_stream_ms"),
            out.get("fraction_of_tcp")));
    return 0;
  }

  /** {@code out} as one JSON object with {@code --json}, else {@code text}. */
  private void report(Map<String, Object> out, String text) {
    System.out.print(json ? JsonMapper.shared().writeValueAsString(out) + "\n" : text);
  }

  /** {@code v} to three decimals, as the JSON of every kv bench prints it. */
  static double round3(double v) {
    return Math.round(v * 1000) / 1000.0;
  }

  /** The same bytes copied twice per round (one way and back), between arrays in this process. */
  private static double memcpy(List<LatentBlock> data, int rounds) {
    float[] there = new float[data.get(0).data().length];
    float[] back = new float[there.length];
    long start = System.nanoTime();
    for (int r = 0; r < rounds; r++) {
      for (LatentBlock b : data) {
        System.arraycopy(b.data(), 0, there, 0, there.length);
        System.arraycopy(there, 0, back, 0, back.length);
      }
    }
    return (System.nanoTime() - start) / 1e9;
  }
}
