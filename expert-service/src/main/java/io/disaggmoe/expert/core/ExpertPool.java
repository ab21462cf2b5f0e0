package io.disaggmoe.expert.core;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDManager;
import io.disaggmoe.model.ComputeThread;
import io.disaggmoe.model.ModelIdentity;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.expert.RoutedExperts;
import io.disaggmoe.model.weights.Checkpoint;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.stream.IntStream;

/**
 * One expert pool: its placement's routed experts of every MoE layer, and the checked, counted
 * dispatch that runs them. Knows no transport.
 */
public final class ExpertPool implements AutoCloseable {
  private final ModelConfig config;
  private final Path dir;
  private volatile ExpertPlacement placement;
  private final NDManager manager;
  private volatile RoutedExperts experts;
  private final ComputeThread compute;
  private final DispatchScheduler scheduler;
  private final ExpertLoadCounter load;
  private final QueuedBytes queued;
  private final String modelId;

  private ExpertPool(
      Path dir,
      ModelConfig config,
      ExpertPlacement placement,
      NDManager manager,
      RoutedExperts experts,
      ComputeThread compute,
      String modelId,
      long maxQueuedBytes) {
    this.dir = dir;
    this.config = config;
    this.placement = placement;
    this.manager = manager;
    this.experts = experts;
    this.compute = compute;
    this.scheduler =
        new DispatchScheduler(
            experts, manager, compute, config.hiddenSize(), config.nRoutedExperts());
    this.load = new ExpertLoadCounter(config.numHiddenLayers(), config.nRoutedExperts());
    this.queued =
        new QueuedBytes(
            maxQueuedBytes, "expert pool " + placement.poolIndex() + "/" + placement.poolCount());
    this.modelId = modelId;
  }

  /**
   * {@link #load(Path, String, List, int, long)} at the usual priority, with up to half the heap
   * for queued dispatches.
   */
  public static ExpertPool load(Path dir, String pool, List<Integer> replicas) throws IOException {
    return load(dir, pool, replicas, 0, defaultMaxQueuedBytes());
  }

  /** Half the heap: queued dispatches are heap arrays, the weights are not. */
  public static long defaultMaxQueuedBytes() {
    return Runtime.getRuntime().maxMemory() / 2;
  }

  /**
   * Reads only the placement's expert tensors from the checkpoint in {@code dir}. The arrays live
   * on DJL's default device: the GPU when the engine finds one, else the CPU. Expert passes run at
   * {@code computeNiceness} (0..19) above the process's nice value: see {@link ThreadNiceness}.
   * Accepted dispatches may hold up to {@code maxQueuedBytes} until they complete; beyond that they
   * are refused with {@link ExpertPoolBusyException}.
   */
  public static ExpertPool load(
      Path dir, String pool, List<Integer> replicas, int computeNiceness, long maxQueuedBytes)
      throws IOException {
    ModelConfig config = ModelConfigJson.read(dir);
    if (config.nRoutedExperts() == 0) {
      throw new IOException(dir + " has no routed experts (n_routed_experts is 0)");
    }
    ExpertPlacement placement =
        ExpertPlacement.of(pool, config.nRoutedExperts(), moeLayers(config), replicas);
    // Its own compute thread: an attention model in the same process may wait on this pool.
    ComputeThread compute = new ComputeThread("expert-pool-" + pool);
    try {
      // Before the first tensor op, so that the OpenMP workers it starts inherit the priority.
      compute.run(() -> ThreadNiceness.lowerCurrentThread(computeNiceness));
      return compute.call(
          () -> {
            NDManager manager = NDManager.newBaseManager();
            try (Checkpoint ckpt = Checkpoint.open(dir, config.quantization())) {
              RoutedExperts experts =
                  RoutedExperts.load(
                      ckpt, config, key -> placement.holds(key.layer(), key.expert()));
              String modelId = ModelIdentity.of(dir);
              return new ExpertPool(
                  dir, config, placement, manager, experts, compute, modelId, maxQueuedBytes);
            } catch (RuntimeException e) {
              manager.close();
              throw e;
            }
          });
    } catch (RuntimeException e) {
      compute.close();
      throw e;
    }
  }

  public ModelConfig config() {
    return config;
  }

  /**
   * The size on the wire of the largest well-formed dispatch of {@code tokens} tokens for this
   * model: F32 activations, top-k expert ids and weights, and a little for the message's framing.
   */
  public long maxDispatchBytes(int tokens) {
    long perToken = (long) config.hiddenSize() * Float.BYTES + 2L * config.numExpertsPerTok() * 4;
    return tokens * perToken + (64 << 10);
  }

  public ExpertPlacement placement() {
    return placement;
  }

  public String modelId() {
    return modelId;
  }

  public long residentBytes() {
    return experts.residentBytes();
  }

  public ExpertLoadCounter load() {
    return load;
  }

  /**
   * Expert passes made since start: one read of one expert's weights, for however many tokens of
   * however many dispatches it ran.
   */
  public long expertPasses() {
    return scheduler.passes();
  }

  public List<Integer> moeLayers() {
    return moeLayers(config);
  }

  private static List<Integer> moeLayers(ModelConfig config) {
    return IntStream.range(0, config.numHiddenLayers()).filter(config::isMoeLayer).boxed().toList();
  }

  /**
   * Makes this pool hold {@code layers}' experts (every MoE layer, at least one expert each),
   * reading from the checkpoint the ones it lacks, on the compute thread between expert passes;
   * with {@code dropOthers} it then holds only those, and a dispatch for a dropped expert is
   * refused with {@link ExpertNotHeldException}. Returns the placement held now, at {@code
   * version}.
   *
   * @throws InvalidPlacementException when {@code layers} is not a whole placement of this model
   */
  public synchronized ExpertPlacement setPlacement(
      Map<Integer, ? extends Collection<Integer>> layers, long version, boolean dropOthers) {
    checkPlacement(layers);
    ExpertPlacement target =
        new ExpertPlacement(placement.poolIndex(), placement.poolCount(), new TreeMap<>(), version)
            .union(layers, version);
    if (!dropOthers) {
      ExpertPlacement grown = placement.union(layers, version);
      compute.run(
          () -> {
            try (Checkpoint ckpt = Checkpoint.open(dir, config.quantization())) {
              experts = experts.plus(ckpt, config, k -> grown.holds(k.layer(), k.expert()));
            }
            scheduler.useExperts(experts);
          });
      placement = grown;
      return grown;
    }
    // Refused from now on; dispatches accepted before still find their experts, since the
    // weights go only after the passes queued ahead of this on the compute thread.
    placement = target;
    compute.run(
        () -> {
          experts = experts.only(k -> target.holds(k.layer(), k.expert()));
          scheduler.useExperts(experts);
        });
    return target;
  }

  private void checkPlacement(Map<Integer, ? extends Collection<Integer>> layers) {
    List<Integer> moe = moeLayers();
    if (!layers.keySet().equals(new java.util.HashSet<>(moe))) {
      throw new InvalidPlacementException(
          "a placement names every MoE layer " + moe + " once; got layers " + layers.keySet());
    }
    layers.forEach(
        (layer, held) -> {
          if (held.isEmpty()) {
            throw new InvalidPlacementException("layer " + layer + " holds no expert");
          }
          for (int e : held) {
            if (e < 0 || e >= config.nRoutedExperts()) {
              throw new InvalidPlacementException(
                  "expert "
                      + e
                      + " of layer "
                      + layer
                      + " does not exist (experts 0.."
                      + (config.nRoutedExperts() - 1)
                      + ")");
            }
          }
        });
  }

  /**
   * Checks and accepts one dispatch: {@code tokens} rows of {@code hidden} ({@code [tokens,
   * hidden]} F32, the little-endian bytes the wire carries, read from index 0, copied before this
   * returns) with {@code k} slots per token ({@code expertIds}, {@code weights}: {@code [tokens,
   * k]}, kept by the pool until it completes; -1 marks a slot for another pool). The future holds
   * the weighted output of each of this pool's slots and completes on the pool's compute thread, or
   * at once when no slot is this pool's. Malformed dispatches throw here, and so does one that
   * would take the pool's queued dispatches over their limit ({@link ExpertPoolBusyException}).
   */
  public CompletableFuture<SlotOutputs> dispatch(
      int layer, ByteBuffer hiddenBytes, int[] expertIds, float[] weights, int k) {
    FloatBuffer hidden = hiddenBytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    int dim = config.hiddenSize();
    if (layer < 0 || layer >= config.numHiddenLayers() || !config.isMoeLayer(layer)) {
      throw new InvalidDispatchException(
          "layer " + layer + " is not a MoE layer of this model (MoE layers: " + moeLayers() + ")");
    }
    if (hidden.limit() % dim != 0) {
      throw new InvalidDispatchException(
          "hidden has " + hidden.limit() + " values, not a multiple of hidden_size " + dim);
    }
    int tokens = hidden.limit() / dim;
    if (k < 1 || expertIds.length != tokens * k || weights.length != tokens * k) {
      throw new InvalidDispatchException(
          "expert_ids and routing_weights must both be ["
              + tokens
              + ", k] for "
              + tokens
              + " tokens; got "
              + expertIds.length
              + " and "
              + weights.length
              + " values, k "
              + k);
    }
    // Checked before anything is allocated: a token routes to at most top-k distinct experts.
    int topK = config.numExpertsPerTok();
    if (k > topK) {
      throw new InvalidDispatchException(
          "k is " + k + "; this model routes each token to at most " + topK + " experts");
    }
    checkDistinctPerToken(expertIds, tokens, k);
    if (!allFinite(hiddenBytes)) {
      checkFinite(hidden, "hidden");
    }
    checkFinite(FloatBuffer.wrap(weights), "routing_weights");
    for (int e : expertIds) {
      checkExpert(layer, e);
    }
    PendingDispatch d =
        new PendingDispatch(layer, hidden, tokens, dim, expertIds, weights, k, queued);
    if (!d.settled()) {
      try {
        scheduler.submit(d);
      } catch (RuntimeException e) {
        d.fail(e);
        throw e;
      }
    }
    // Counted once the whole dispatch is accepted.
    for (int e : expertIds) {
      if (e >= 0) {
        load.add(layer, e, 1);
      }
    }
    return d.result();
  }

  private static void checkDistinctPerToken(int[] expertIds, int tokens, int k) {
    for (int t = 0; t < tokens; t++) {
      for (int i = t * k; i < (t + 1) * k; i++) {
        for (int j = t * k; j < i; j++) {
          if (expertIds[i] >= 0 && expertIds[i] == expertIds[j]) {
            throw new InvalidDispatchException(
                "token "
                    + t
                    + " names expert "
                    + expertIds[i]
                    + " twice; its experts are distinct");
          }
        }
      }
    }
  }

  private void checkExpert(int layer, int e) {
    if (e == -1) {
      return;
    }
    if (e < 0 || e >= config.nRoutedExperts()) {
      throw new InvalidDispatchException(
          "expert "
              + e
              + " does not exist (layer "
              + layer
              + " has experts 0.."
              + (config.nRoutedExperts() - 1)
              + "; -1 marks another pool's slot)");
    }
    if (!placement.holds(layer, e)) {
      throw new ExpertNotHeldException(
          "expert " + e + " of layer " + layer + " is not held by " + placement);
    }
  }

  private static final long EXPONENTS = 0x7f8000007f800000L;
  private static final long LANE_ONES = 0x0000000100000001L;
  private static final long LANE_SIGNS = 0x8000000080000000L;

  /**
   * Whether every little-endian F32 in {@code f32} is finite, two at a time: a float is NaN or
   * infinite exactly when its exponent bits are all set, so each 32-bit lane of {@code (word &
   * EXPONENTS) ^ EXPONENTS} is zero for such a float, and the usual has-a-zero-lane test finds it.
   * Six times faster than a float loop on a [64, 1024] dispatch, which every decode step pays per
   * pool.
   */
  static boolean allFinite(ByteBuffer f32) {
    ByteBuffer le = f32.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    LongBuffer words = le.asLongBuffer();
    long zeroLanes = 0;
    for (int i = 0, n = words.limit(); i < n; i++) {
      long y = (words.get(i) & EXPONENTS) ^ EXPONENTS;
      zeroLanes |= (y - LANE_ONES) & ~y & LANE_SIGNS;
    }
    boolean oddTail = le.limit() / 4 % 2 == 1;
    return zeroLanes == 0 && (!oddTail || Float.isFinite(le.getFloat(le.limit() - 4)));
  }

  private static void checkFinite(FloatBuffer values, String name) {
    for (int i = 0, n = values.limit(); i < n; i++) {
      float v = values.get(i);
      if (!Float.isFinite(v)) {
        throw new InvalidDispatchException(
            name + " holds " + v + " at index " + i + "; only finite values are accepted");
      }
    }
  }

  /** Bytes the accepted, unfinished dispatches hold now. */
  public long queuedBytes() {
    return queued.held();
  }

  /** The thread the expert passes run on. */
  ComputeThread computeThread() {
    return compute;
  }

  /** The NDArrays this pool's manager holds: its weights, and nothing more between passes. */
  int managedArrayCount() {
    return ((BaseNDManager) manager).getManagedArrays().size();
  }

  @Override
  public void close() {
    scheduler.close();
    manager.close();
    compute.close();
  }
}
