package io.disaggmoe.cli;

import io.disaggmoe.attention.client.GrpcKvCacheClient;
import io.disaggmoe.attention.client.LatentBlock;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
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
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import tools.jackson.databind.json.JsonMapper;

/**
 * {@code disaggmoe bench kv}: latent cache blocks of the model's shape put into and got back from a
 * kv-cache-service process on loopback, beside an in-process memcpy of the same bytes.
 */
@Command(
    name = "kv",
    mixinStandardHelpOptions = true,
    description = "KV block put+get GB/s over loopback vs in-process memcpy GB/s.")
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
      defaultValue = "20",
      description = "timed rounds of put then get (default ${DEFAULT-VALUE})")
  int rounds;

  @Option(
      names = "--warmup",
      defaultValue = "5",
      description = "untimed rounds first (default ${DEFAULT-VALUE})")
  int warmup;

  @Option(names = "--json", description = "print one JSON object")
  boolean json;

  @Override
  public Integer call() throws Exception {
    ModelConfig c = ModelConfigJson.read(model);
    int values = blockTokens * c.numHiddenLayers() * c.latentDim();
    long blockBytes = 4L * values;
    List<LatentBlock> data = new ArrayList<>();
    SplittableRandom random = new SplittableRandom(1);
    for (int i = 0; i < blocks; i++) {
      float[] v = new float[values];
      for (int j = 0; j < v.length; j++) {
        v[j] = (float) random.nextGaussian();
      }
      data.add(new LatentBlock(blockTokens, v));
    }
    long capacity = 2 * blockBytes * blocks * (rounds + warmup) + (64 << 20);
    double putGetSeconds;
    try (ServiceProcess kv = ServiceProcess.kvCache(capacity, blockTokens);
        GrpcKvCacheClient client =
            GrpcKvCacheClient.connect(
                kv.target(),
                ModelIdentity.of(model),
                c.numHiddenLayers(),
                c.latentDim(),
                Duration.ofMinutes(5))) {
      for (int r = 0; r < warmup; r++) {
        round(client, data, -1 - r);
      }
      long start = System.nanoTime();
      for (int r = 0; r < rounds; r++) {
        round(client, data, r);
      }
      putGetSeconds = (System.nanoTime() - start) / 1e9;
    }
    long movedBytes = 2L * rounds * blocks * blockBytes;
    double memcpySeconds = memcpy(data, rounds);
    double putGet = movedBytes / putGetSeconds / 1e9;
    double copy = movedBytes / memcpySeconds / 1e9;
    Map<String, Object> out = new LinkedHashMap<>();
    out.put("put_get_gb_s", Math.round(putGet * 1000) / 1000.0);
    out.put("memcpy_gb_s", Math.round(copy * 1000) / 1000.0);
    out.put("block_bytes", blockBytes);
    out.put("blocks", blocks * rounds);
    if (json) {
      System.out.println(JsonMapper.shared().writeValueAsString(out));
    } else {
      System.out.printf(
          Locale.ROOT,
          "%d blocks of %d bytes (%d tokens x %d layers x %d F32), put then get, %d rounds%n"
              + "kv-cache-service put+get  %8.3f GB/s%n"
              + "in-process memcpy         %8.3f GB/s%n"
              + "ratio: %.3f%n",
          blocks,
          blockBytes,
          blockTokens,
          c.numHiddenLayers(),
          c.latentDim(),
          rounds,
          putGet,
          copy,
          putGet / copy);
    }
    return 0;
  }

  /** Puts every block under a name of this round, then gets them all back. */
  private static void round(GrpcKvCacheClient client, List<LatentBlock> data, int round) {
    List<byte[]> names = new ArrayList<>();
    for (int i = 0; i < data.size(); i++) {
      names.add(ByteBuffer.allocate(8).putInt(round).putInt(i).array());
    }
    client.putBlocks(names, data);
    List<LatentBlock> back = client.getLeading(names);
    if (back.size() != data.size()) {
      throw new IllegalStateException(
          "got " + back.size() + " of " + data.size() + " blocks back; the budget is too small");
    }
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
