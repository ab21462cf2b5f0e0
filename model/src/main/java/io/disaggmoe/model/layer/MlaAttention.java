package io.disaggmoe.model.layer;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.WeightMatrix;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * Multi-head latent attention over a packed batch of sequences, each with its own latent cache.
 *
 * <p>Projections run once over all rows; attention runs per sequence, since each attends over its
 * own cached positions. Both paths read the same cache of {@code c_kv} and {@code k_pe}: naive
 * expands it to per-head keys and values (on libtorch, as the reference does), absorbed folds
 * {@code W_UK} and {@code W_UV} into the query and the output so the latent is never expanded (in
 * Java, row by row, for prompts and decode steps alike).
 */
public final class MlaAttention {
  private final int layer;
  private final int heads;
  private final int nope;
  private final int rope;
  private final int vDim;
  private final int kvRank;
  private final float scale;
  private final MlaWeights w;

  /** The projections the checkpoint has (query LoRA or direct), each multiplied once per step. */
  private final List<WeightMatrix> projections;

  private final RotaryEmbedding rotary;
  private final AttentionMode mode;
  private final AbsorbedDecode decode;

  public MlaAttention(
      int layer, ModelConfig c, MlaWeights w, RotaryEmbedding rotary, AttentionMode mode) {
    this.layer = layer;
    this.heads = c.numAttentionHeads();
    this.nope = c.qkNopeHeadDim();
    this.rope = c.qkRopeHeadDim();
    this.vDim = c.vHeadDim();
    this.kvRank = c.kvLoraRank();
    this.scale = (float) c.softmaxScale();
    this.projections =
        Stream.of(w.qA(), w.qB(), w.q(), w.kvA(), w.o()).filter(Objects::nonNull).toList();
    this.rotary = rotary;
    this.mode = mode;
    this.decode = new AbsorbedDecode(heads, nope, rope, vDim, kvRank, scale, w.kvB());
    // The folds hold kv_b's values now; the naive path multiplies by its float32 NDArray.
    this.w = w.withoutKvB();
  }

  /**
   * Bytes of weights a decode step reads: the projections in their checkpoint dtype, the norms, and
   * {@code kv_b}'s per-head halves that decode attention multiplies by.
   */
  public long bytes() {
    long n = w.kvNorm().bytes() + (w.qNorm() == null ? 0 : w.qNorm().bytes());
    for (WeightMatrix m : projections) {
      n += m.bytes();
    }
    return n + decode.weightBytes();
  }

  /** {@link #bytes}, plus the float32 {@code kv_b} that the naive path multiplies by. */
  public long residentBytes() {
    return bytes() + (w.kvBWidened() == null ? 0 : w.kvBWidened().size() * Float.BYTES);
  }

  /**
   * {@code x}: normalised hidden states {@code [rows, hidden]} of every slice, packed. The absorbed
   * path computes every row as {@link #attend(float[], int, SequenceSlice[])} does; the naive path
   * (the reference's algebra) runs on libtorch, a sequence at a time.
   */
  public NDArray forward(NDArray x, SequenceSlice[] batch) {
    int rows = (int) x.getShape().get(0);
    NDManager m = x.getManager();
    if (mode == AttentionMode.ABSORB) {
      return m.create(attend(x.toFloatArray(), rows, batch), new Shape(rows, w.o().rows()));
    }
    int[] positions = positions(rows, batch);
    NDArray q =
        w.qNorm() == null ? w.q().apply(x) : w.qB().apply(w.qNorm().forward(w.qA().apply(x)));
    q = q.reshape(rows, heads, nope + rope);
    NDArray qNope = q.get(":, :, :{}", nope);
    RotaryEmbedding.Angles angles = rotary.angles(positions, m);
    NDArray qPe = angles.apply(q.get(":, :, {}:", nope));
    NDArray kv = w.kvA().apply(x);
    NDArray ckv = w.kvNorm().forward(kv.get(":, :{}", kvRank));
    NDArray kPe = angles.apply(kv.get(":, {}:", kvRank));
    float[] latent = ckv.concat(kPe, 1).toFloatArray();
    for (SequenceSlice s : batch) {
      s.cache().write(layer, s.start(), latent, s.row(), s.count());
    }
    NDList outputs = new NDList(batch.length);
    for (SequenceSlice s : batch) {
      String rowRange = s.row() + ":" + (s.row() + s.count());
      NDArray cached = s.cache().read(layer, s.end(), m);
      NDArray sNope = qNope.get(rowRange).transpose(1, 0, 2);
      NDArray sPe = qPe.get(rowRange).transpose(1, 0, 2);
      outputs.add(naive(sNope, sPe, cached, s));
    }
    NDArray attended = outputs.size() == 1 ? outputs.head() : NDArrays.concat(outputs, 0);
    return w.o().apply(attended);
  }

  /**
   * Whether {@link #attend(float[], int, SequenceSlice[])} can run {@code rows} rows: the absorbed
   * path, with every projection on the float kernels.
   */
  public boolean attendsFloats(int rows) {
    if (mode != AttentionMode.ABSORB) {
      return false;
    }
    for (WeightMatrix m : projections) {
      if (!m.multipliesFloats(rows)) {
        return false;
      }
    }
    return true;
  }

  /**
   * Absorbed attention on float arrays, for every row of every slice (a decode step's one row or a
   * prompt's many): the projections, norms and rotations, then each row attends over its own
   * sequence's positions up to its own in place ({@link AbsorbedDecode}), with no torch call and no
   * NDArray. Each row's sums are taken in an order fixed by its position alone, so a position gets
   * the same bits whether a prompt computed it in one pass or in chunks, after a cached prefix, or
   * a decode step did, whatever else shared the pass.
   */
  public float[] attend(float[] x, int rows, SequenceSlice[] batch) {
    // The query's first projection and the latent's share the input: one handoff for both.
    WeightMatrix down = w.qNorm() == null ? w.q() : w.qA();
    float[] q = new float[rows * down.rows()];
    float[] latent = new float[rows * w.kvA().rows()];
    down.multiplyWith(w.kvA(), x, rows, q, latent);
    if (w.qNorm() != null) {
      q = project(w.qB(), w.qNorm().forward(q), rows);
    }
    int[] positions = positions(rows, batch);
    RotaryEmbedding.Table angles = rotary.table(positions);
    float[] qNopeRows = new float[rows * heads * nope];
    float[] qPeRows = new float[rows * heads * rope];
    for (int r = 0; r < rows; r++) {
      for (int h = 0; h < heads; h++) {
        int head = (r * heads + h) * (nope + rope);
        System.arraycopy(q, head, qNopeRows, (r * heads + h) * nope, nope);
        System.arraycopy(q, head + nope, qPeRows, (r * heads + h) * rope, rope);
        angles.rotate(r, qPeRows, (r * heads + h) * rope);
      }
    }
    int latentDim = kvRank + rope;
    for (int r = 0; r < rows; r++) {
      w.kvNorm().normalize(latent, r * latentDim, latent, r * latentDim);
      angles.rotate(r, latent, r * latentDim + kvRank);
    }
    long bytes = 0;
    int longest = 0;
    // Each row's sequence: a row attends over positions 0 .. its own.
    SequenceSlice[] sliceOf = new SequenceSlice[rows];
    for (SequenceSlice s : batch) {
      s.cache().write(layer, s.start(), latent, s.row(), s.count());
      for (int i = 0; i < s.count(); i++) {
        sliceOf[s.row() + i] = s;
        bytes += decode.bytesRead(s.start() + i + 1);
      }
      longest = Math.max(longest, s.end());
    }
    float[] queries = decode.queries(qNopeRows, qPeRows, rows);
    float[] attended = new float[rows * heads * kvRank];
    // Each row's heads (in ranges, where they pay: AbsorbedDecode.headParts) and its segments of
    // positions, shared among the kernel threads: a segment's partial result does not depend on
    // the thread nor on the units beside it, and a row's partials are merged in position order.
    int parts = decode.headParts(rows, longest, KernelThreads.count(), bytes);
    int[] ends = new int[rows];
    int[] segmentsOf = new int[rows];
    int[] firstUnit = new int[rows + 1];
    for (int r = 0; r < rows; r++) {
      SequenceSlice s = sliceOf[r];
      ends[r] = s.start() + (r - s.row()) + 1;
      segmentsOf[r] = decode.segments(ends[r]);
      firstUnit[r + 1] = firstUnit[r] + parts * segmentsOf[r];
    }
    AbsorbedDecode.Online[][] partials = new AbsorbedDecode.Online[rows * parts][];
    AbsorbedDecode.LaneQuery[] laneQueries = new AbsorbedDecode.LaneQuery[rows * parts];
    for (int u = 0; u < partials.length; u++) {
      partials[u] = new AbsorbedDecode.Online[segmentsOf[u / parts]];
      int first = decode.headsFrom(u % parts, parts);
      int last = decode.headsFrom(u % parts + 1, parts);
      if (first < last) {
        laneQueries[u] = decode.laneQuery(queries, u / parts, first, last);
      }
    }
    KernelThreads.forChunks(
        firstUnit[rows],
        1,
        bytes,
        (from, to) -> {
          int r = 0;
          while (firstUnit[r + 1] <= from) {
            r++;
          }
          for (int u = from; u < to; u++) {
            while (firstUnit[r + 1] <= u) {
              r++;
            }
            int part = (u - firstUnit[r]) / segmentsOf[r];
            int segment = (u - firstUnit[r]) % segmentsOf[r];
            // An empty range of heads has no query and no partials.
            AbsorbedDecode.LaneQuery query = laneQueries[r * parts + part];
            if (query != null) {
              partials[r * parts + part][segment] =
                  decode.segment(query, sliceOf[r].cache(), layer, ends[r], segment);
            }
          }
        });
    for (int u = 0; u < partials.length; u++) {
      if (laneQueries[u] != null) {
        int first = decode.headsFrom(u % parts, parts);
        decode.merge(partials[u], u / parts, first, first + laneQueries[u].heads(), attended);
      }
    }
    float[] out = decode.outputs(attended, rows);
    return project(w.o(), out, rows);
  }

  /** Each packed row's position in its sequence. */
  private static int[] positions(int rows, SequenceSlice[] batch) {
    int[] positions = new int[rows];
    for (SequenceSlice s : batch) {
      for (int i = 0; i < s.count(); i++) {
        positions[s.row() + i] = s.start() + i;
      }
    }
    return positions;
  }

  private static float[] project(WeightMatrix m, float[] x, int rows) {
    float[] y = new float[rows * m.rows()];
    m.multiply(x, rows, y);
    return y;
  }

  /** Naive attention for one sequence: expand the latent to keys and values first. */
  private NDArray naive(NDArray qNope, NDArray qPe, NDArray cached, SequenceSlice s) {
    int len = s.end();
    NDArray c = cached.get(":, :{}", kvRank);
    NDArray pe = cached.get(":, {}:", kvRank);
    NDArray kvFull = Ops.linear(c, w.kvBWidened()).reshape(len, heads, nope + vDim);
    NDArray kNope = kvFull.get(":, :, :{}", nope);
    NDArray v = kvFull.get(":, :, {}:", nope).transpose(1, 0, 2);
    NDArray kPe = pe.reshape(len, 1, rope).broadcast(new Shape(len, heads, rope));
    NDArray k = kNope.concat(kPe, 2).transpose(1, 2, 0);
    NDArray query = qNope.concat(qPe, 2);
    NDArray probs = masked(query.matMul(k).mul(scale), s).softmax(-1);
    return probs.matMul(v).transpose(1, 0, 2).reshape(s.count(), heads * vDim);
  }

  /** Causal mask: the query at position {@code start+i} sees keys {@code 0 .. start+i}. */
  private static NDArray masked(NDArray scores, SequenceSlice s) {
    if (s.count() == 1) {
      return scores;
    }
    int n = s.count();
    int len = s.end();
    float[] mask = new float[n * len];
    for (int i = 0; i < n; i++) {
      Arrays.fill(mask, i * len + s.start() + i + 1, (i + 1) * len, Float.NEGATIVE_INFINITY);
    }
    NDManager m = scores.getManager();
    return scores.add(m.create(mask, new Shape(n, len)));
  }
}
