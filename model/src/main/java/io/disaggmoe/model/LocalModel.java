package io.disaggmoe.model;

import ai.djl.ndarray.BaseNDManager;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.cache.LatentCache;
import io.disaggmoe.model.cache.LatentPagePool;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.expert.ExpertExecutor;
import io.disaggmoe.model.expert.LocalExpertExecutor;
import io.disaggmoe.model.expert.RoutedExperts;
import io.disaggmoe.model.kernel.MatMul;
import io.disaggmoe.model.kernel.TorchThreads;
import io.disaggmoe.model.kernel.WeightMatrix;
import io.disaggmoe.model.layer.AttentionMode;
import io.disaggmoe.model.layer.DecoderLayer;
import io.disaggmoe.model.layer.RmsNorm;
import io.disaggmoe.model.layer.RotaryEmbedding;
import io.disaggmoe.model.layer.SequenceSlice;
import io.disaggmoe.model.weights.Checkpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Supplier;

/**
 * A DeepSeek-V3-family model in one process: embedding, decoder layers, final norm and LM head,
 * with routed experts behind an {@link ExpertExecutor}.
 *
 * <p>One {@link #forward} call runs several sequences of any lengths at once (prefill and decode
 * alike): their tokens are packed into one matrix for the projections and experts, and each attends
 * over its own {@link LatentCache}. Every call works inside its own NDManager and NDScope, so
 * nothing but the caches' contents outlives it; a decode step on the float kernels needs neither,
 * as it runs on float arrays from the embedding to the logits.
 */
public final class LocalModel implements AutoCloseable {
  /** Page size of {@link #newCache}'s pool; the decode role pages by the kv-cache block size. */
  private static final int DEFAULT_PAGE_TOKENS = 64;

  private final ModelConfig config;
  private final NDManager manager;
  private final WeightMatrix embed;
  private final DecoderLayer[] layers;
  private final RmsNorm norm;
  private final WeightMatrix lmHead;
  private final ExpertExecutor experts;
  private final LatentPagePool pages;
  private volatile boolean microBatchOverlap;
  private volatile boolean floatPasses = true;
  private final AtomicLong floatPassCount = new AtomicLong();

  private LocalModel(
      ModelConfig config,
      NDManager manager,
      WeightMatrix embed,
      DecoderLayer[] layers,
      RmsNorm norm,
      WeightMatrix lmHead,
      ExpertExecutor experts) {
    this.config = config;
    this.manager = manager;
    this.embed = embed;
    this.layers = layers;
    this.norm = norm;
    this.lmHead = lmHead;
    this.experts = experts;
    this.pages =
        new LatentPagePool(
            config.numHiddenLayers(), config.latentDim(), DEFAULT_PAGE_TOKENS, Integer.MAX_VALUE);
  }

  /** Loads the whole model, routed experts included, to run in this process. */
  public static LocalModel load(Path dir, AttentionMode mode) throws IOException {
    return loadWith(
        dir,
        mode,
        (ckpt, config, manager) ->
            new LocalExpertExecutor(RoutedExperts.load(ckpt, config, key -> true), manager));
  }

  /** Loads everything but the routed experts, which {@code experts} runs elsewhere. */
  public static LocalModel load(Path dir, AttentionMode mode, ExpertExecutor experts)
      throws IOException {
    return loadWith(dir, mode, (ckpt, config, manager) -> experts);
  }

  private interface ExecutorFactory {
    ExpertExecutor create(Checkpoint ckpt, ModelConfig config, NDManager manager);
  }

  private static LocalModel loadWith(Path dir, AttentionMode mode, ExecutorFactory experts)
      throws IOException {
    ModelConfig config = ModelConfigJson.read(dir);
    return ComputeThread.shared()
        .call(
            () -> {
              NDManager manager = NDManager.newBaseManager();
              try (Checkpoint ckpt = Checkpoint.open(dir, config.quantization())) {
                return build(config, ckpt, manager, mode, experts.create(ckpt, config, manager));
              } catch (RuntimeException e) {
                manager.close();
                throw e;
              }
            });
  }

  private static LocalModel build(
      ModelConfig c, Checkpoint ckpt, NDManager manager, AttentionMode mode, ExpertExecutor ex) {
    MatMul.warmUp(ckpt.matrixDtypes());
    ModelLoader loader = new ModelLoader(ckpt, c, manager);
    RotaryEmbedding rotary = new RotaryEmbedding(c);
    DecoderLayer[] layers = new DecoderLayer[c.numHiddenLayers()];
    for (int i = 0; i < layers.length; i++) {
      layers[i] = loader.layer(i, rotary, mode, ex);
    }
    WeightMatrix embed = loader.weight("model.embed_tokens.weight", c.vocabSize(), c.hiddenSize());
    WeightMatrix head =
        c.tieWordEmbeddings()
            ? embed
            : loader.weight("lm_head.weight", c.vocabSize(), c.hiddenSize());
    return new LocalModel(
        c, manager, embed, layers, loader.norm("model.norm.weight", c.hiddenSize()), head, ex);
  }

  public ModelConfig config() {
    return config;
  }

  /** What runs the routed experts: in this process, or remote pools. */
  public ExpertExecutor experts() {
    return experts;
  }

  /** A new, empty latent cache for one sequence, owned by the caller, paged without a bound. */
  public PagedLatentCache newCache() {
    return new PagedLatentCache(pages);
  }

  /**
   * A page pool of this model's cache shape holding at most {@code budgetBytes}, for a serving loop
   * that admits requests by pages; closed with the model if not before.
   */
  public LatentPagePool newPagePool(int pageTokens, long budgetBytes) {
    return LatentPagePool.withBudget(
        config.numHiddenLayers(), config.latentDim(), pageTokens, budgetBytes);
  }

  /**
   * Runs {@code tokens.get(i)} as the next tokens of the sequence cached in {@code caches.get(i)},
   * for every i at once, and appends them to the caches. Returns, per sequence, the logits of every
   * new position ({@code allPositions}) or of its last one, row-major {@code [rows, vocab]}.
   */
  public List<float[]> forward(
      List<? extends LatentCache> caches, List<int[]> tokens, boolean allPositions) {
    if (caches.size() != tokens.size() || caches.isEmpty()) {
      throw new IllegalArgumentException(
          "forward needs one token array per cache: "
              + caches.size()
              + " caches, "
              + tokens.size()
              + " token arrays");
    }
    SequenceSlice[] slices = new SequenceSlice[caches.size()];
    int rows = 0;
    for (int i = 0; i < slices.length; i++) {
      int[] ids = tokens.get(i);
      validate(i, ids);
      slices[i] = new SequenceSlice(caches.get(i), rows, caches.get(i).length(), ids.length);
      rows += ids.length;
    }
    int[] flat = new int[rows];
    for (int i = 0; i < slices.length; i++) {
      int[] ids = tokens.get(i);
      for (int j = 0; j < ids.length; j++) {
        flat[slices[i].row() + j] = ids[j];
      }
    }
    return ComputeThread.shared().call(() -> forwardHere(flat, slices, allPositions));
  }

  private List<float[]> forwardHere(int[] flat, SequenceSlice[] slices, boolean allPositions) {
    TorchThreads.forPass(flat.length);
    experts.beginPass();
    if (runsFloats(flat.length)) {
      try {
        return forwardFloats(flat, slices, allPositions);
      } finally {
        experts.endPass();
      }
    }
    try (NDManager step = manager.newSubManager();
        NDScope scope = new NDScope()) {
      NDArray h = embed(step, flat);
      h = microBatchOverlap && slices.length > 1 ? runOverlapped(h, slices) : run(h, slices);
      for (SequenceSlice s : slices) {
        s.cache().commit(s.end());
      }
      NDArray selected = allPositions ? h : lastRows(h, slices);
      float[] logits = lmHead.apply(norm.forward(selected)).toFloatArray();
      return split(logits, slices, allPositions);
    } finally {
      experts.endPass();
    }
  }

  /**
   * Whether a pass of {@code rows} rows gives each row the bits it gets in any other pass: in one
   * pass with a prompt, one position per pass, or beside other sequences (the float path, {@code
   * BatchInvarianceTest}). Naive attention on libtorch does not.
   */
  public boolean rowsIndependentOfPass(int rows) {
    return runsFloats(rows);
  }

  /**
   * Whether a pass of {@code rows} rows runs on float arrays end to end: absorbed attention, and
   * every layer and the LM head on the float kernels. A decode step's operations are small, and
   * through torch each cost a JNI call and a copy in and out.
   */
  private boolean runsFloats(int rows) {
    if (!floatPasses || !lmHead.multipliesFloats(rows)) {
      return false;
    }
    for (DecoderLayer layer : layers) {
      if (!layer.runsFloats(rows)) {
        return false;
      }
    }
    return true;
  }

  private List<float[]> forwardFloats(int[] flat, SequenceSlice[] slices, boolean allPositions) {
    floatPassCount.incrementAndGet();
    int rows = flat.length;
    float[] h = embedRows(flat);
    if (microBatchOverlap && slices.length > 1) {
      h = runOverlapped(h, slices);
    } else {
      for (DecoderLayer layer : layers) {
        h = layer.begin(h, rows, slices).get();
      }
    }
    for (SequenceSlice s : slices) {
      s.cache().commit(s.end());
    }
    int hidden = config.hiddenSize();
    float[] selected = h;
    if (!allPositions && slices.length < rows) {
      selected = new float[slices.length * hidden];
      for (int i = 0; i < slices.length; i++) {
        int last = slices[i].row() + slices[i].count() - 1;
        System.arraycopy(h, last * hidden, selected, i * hidden, hidden);
      }
    }
    float[] logits = new float[selected.length / hidden * config.vocabSize()];
    lmHead.multiply(norm.forward(selected), selected.length / hidden, logits);
    return split(logits, slices, allPositions);
  }

  private NDArray embed(NDManager step, int[] ids) {
    return step.create(embedRows(ids), new Shape(ids.length, config.hiddenSize()));
  }

  private float[] embedRows(int[] ids) {
    int hidden = config.hiddenSize();
    float[] h = new float[ids.length * hidden];
    for (int i = 0; i < ids.length; i++) {
      embed.copyRow(ids[i], h, i * hidden);
    }
    return h;
  }

  private NDArray run(NDArray h, SequenceSlice[] slices) {
    for (DecoderLayer layer : layers) {
      h = layer.forward(h, slices);
    }
    return h;
  }

  /**
   * Two micro-batches (the first and second half of the sequences) go through each layer in turn,
   * so that while one's routed experts compute in remote pools the other runs its attention.
   */
  private NDArray runOverlapped(NDArray h, SequenceSlice[] slices) {
    MicroBatches mb = MicroBatches.of(slices);
    // A pipeline: each half begins its next layer as soon as its experts are back, while the
    // other half's experts are still out.
    Supplier<NDArray> a = layers[0].begin(h.get(":" + mb.split), mb.first);
    Supplier<NDArray> b = layers[0].begin(h.get(mb.split + ":"), mb.second);
    for (int i = 1; i < layers.length; i++) {
      a = layers[i].begin(a.get(), mb.first);
      b = layers[i].begin(b.get(), mb.second);
    }
    return NDArrays.concat(new NDList(a.get(), b.get()), 0);
  }

  /** The same pipeline on float arrays, for a decode step. */
  private float[] runOverlapped(float[] h, SequenceSlice[] slices) {
    MicroBatches mb = MicroBatches.of(slices);
    int hidden = config.hiddenSize();
    int rows = h.length / hidden;
    int at = mb.split * hidden;
    Supplier<float[]> a = layers[0].begin(Arrays.copyOfRange(h, 0, at), mb.split, mb.first);
    Supplier<float[]> b =
        layers[0].begin(Arrays.copyOfRange(h, at, h.length), rows - mb.split, mb.second);
    for (int i = 1; i < layers.length; i++) {
      a = layers[i].begin(a.get(), mb.split, mb.first);
      b = layers[i].begin(b.get(), rows - mb.split, mb.second);
    }
    float[] out = Arrays.copyOf(a.get(), h.length);
    float[] second = b.get();
    System.arraycopy(second, 0, out, at, second.length);
    return out;
  }

  /** The first and the second half of a step's sequences, each with rows counted from 0. */
  private record MicroBatches(SequenceSlice[] first, SequenceSlice[] second, int split) {
    static MicroBatches of(SequenceSlice[] slices) {
      int half = slices.length / 2;
      int split = slices[half].row();
      SequenceSlice[] second = new SequenceSlice[slices.length - half];
      for (int i = half; i < slices.length; i++) {
        SequenceSlice s = slices[i];
        second[i - half] = new SequenceSlice(s.cache(), s.row() - split, s.start(), s.count());
      }
      return new MicroBatches(Arrays.copyOfRange(slices, 0, half), second, split);
    }
  }

  /**
   * Whether forward splits a batch of several sequences into two overlapping micro-batches. It pays
   * off only when routed experts run remotely; results are the same either way.
   */
  public void setMicroBatchOverlap(boolean on) {
    this.microBatchOverlap = on;
  }

  /** Off: every pass goes through NDArrays; for tests that compare the two. */
  void setFloatPasses(boolean on) {
    this.floatPasses = on;
  }

  /** Passes run on float arrays since load. */
  long floatPassCount() {
    return floatPassCount.get();
  }

  private void validate(int sequence, int[] ids) {
    if (ids.length == 0) {
      throw new IllegalArgumentException("sequence " + sequence + " has no tokens to run");
    }
    for (int j = 0; j < ids.length; j++) {
      if (ids[j] < 0 || ids[j] >= config.vocabSize()) {
        throw new IllegalArgumentException(
            "sequence "
                + sequence
                + ", token "
                + j
                + ": id "
                + ids[j]
                + " is outside the vocabulary [0, "
                + config.vocabSize()
                + ")");
      }
    }
  }

  private static NDArray lastRows(NDArray h, SequenceSlice[] slices) {
    NDList rows = new NDList(slices.length);
    for (SequenceSlice s : slices) {
      int last = s.row() + s.count() - 1;
      rows.add(h.get(last + ":" + (last + 1)));
    }
    return rows.size() == 1 ? rows.head() : NDArrays.concat(rows, 0);
  }

  private List<float[]> split(float[] logits, SequenceSlice[] slices, boolean allPositions) {
    int vocab = config.vocabSize();
    List<float[]> out = new ArrayList<>(slices.length);
    int offset = 0;
    for (SequenceSlice s : slices) {
      int n = allPositions ? s.count() : 1;
      float[] part = new float[n * vocab];
      System.arraycopy(logits, offset, part, 0, part.length);
      out.add(part);
      offset += part.length;
    }
    return out;
  }

  /**
   * Bytes of weights every forward step reads whatever its tokens are: attention, norms, dense
   * layers, gates, shared experts and the LM head (not the embedding, of which a step reads only
   * its tokens' rows, nor the routed experts, which depend on routing).
   */
  public long stepWeightBytes() {
    long n = norm.bytes() + lmHead.bytes();
    for (DecoderLayer l : layers) {
      n += l.bytes();
    }
    return n;
  }

  /** Bytes of weights this process holds for the model, routed experts it runs included. */
  public long residentWeightBytes() {
    long n = norm.bytes() + lmHead.bytes() + (lmHead == embed ? 0 : embed.bytes());
    for (DecoderLayer l : layers) {
      n += l.residentBytes();
    }
    if (experts instanceof LocalExpertExecutor local) {
      n += local.experts().residentBytes();
    }
    return n;
  }

  /** The NDArrays this model's manager holds: weights, and caches' buffers while they are open. */
  public int managedArrayCount() {
    return ((BaseNDManager) manager).getManagedArrays().size();
  }

  @Override
  public void close() {
    experts.close();
    manager.close();
  }
}
