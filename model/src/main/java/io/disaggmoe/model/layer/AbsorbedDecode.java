package io.disaggmoe.model.layer;

import io.disaggmoe.model.cache.LatentCache;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.RowCombination;
import io.disaggmoe.model.kernel.Vectors;
import io.disaggmoe.model.kernel.WeightMatrix;
import io.disaggmoe.model.weights.DType;
import java.util.Arrays;
import java.util.function.IntConsumer;

/**
 * Absorbed MLA for a query row (a decode step, or one position of a prompt) over its sequence's
 * latent cache up to its position, read in place page by page: no page is copied and nothing is
 * concatenated, so a row costs the cache's bytes and the arithmetic on them.
 *
 * <p>Per head: the query's no-rope part is folded into the latent space by {@code W_UK}, scored
 * against every cached {@code c_kv} and {@code k_pe}, softmaxed, the probabilities weight the
 * cached {@code c_kv} (the values, still latent), and {@code W_UV} takes the result out of the
 * latent space. The same algebra as the naive path, in float32; only the summation order differs.
 * The two folds apply {@code kv_b}'s per-head halves to every row of a pass, one head after another
 * ({@link HeadFold}, held in the checkpoint's dtype), so a step reads each once, not once per
 * sequence in float32.
 *
 * <p>The cache is read once: each block of rows is scored and then weighted while it is still in
 * cache, with the softmax kept online (a running maximum and weight per head). Reading it twice,
 * scores first and weights after, cost 8.7 ms a step at 4096 positions on the bench model, as 38 MB
 * per pass do not stay in a 32 MB L3. A block is first read with plain loads ({@link
 * Vectors#readAhead}), then scored from the cache: together 1.5-1.7 times the rate of scoring each
 * row as it came from memory. Better still, the next block is read while this one is weighted (the
 * weighting's loads ahead, {@link Vectors#laneWeightedSums}), and its own read-ahead skipped: from
 * memory a block then costs what it costs in L2. Heads are scored and weighted eight at a time, a
 * head a lane ({@link Online}). A sequence past one block is cut into segments the kernel threads
 * share.
 */
final class AbsorbedDecode {
  /**
   * About the most positions one thread attends over on its own (see {@link #segments}): a
   * sequence's segments are shared between the kernel threads and merged in position order, so the
   * result does not depend on how many there are.
   */
  static final int SEGMENT = 512;

  /** Rows scored together and then weighted while still in cache (147 KB of bench rows). */
  static final int BLOCK = 64;

  private static final int G = Vectors.HEAD_LANES;

  private final int heads;
  private final int nope;
  private final int rope;
  private final int vDim;
  private final int rank;
  private final int dim;
  private final float scale;

  /** Per head, {@code W_UK} ({@code [nope, rank]}): folds a query into the latent space. */
  private final HeadFold[] foldK;

  /** Per head, {@code W_UV}ᵀ ({@code [rank, vDim]}): takes a result out of the latent space. */
  private final HeadFold[] unfoldV;

  /** Bytes of {@link #foldK} and {@link #unfoldV}: the share of the kernel threads' work. */
  private final long foldBytes;

  /**
   * {@code kvB}: {@code kv_b}, {@code [heads * (nope + vDim), rank]}, in the checkpoint's dtype.
   * BF16 and float32 halves go to {@link RowCombination}, which holds them as they are (as BF16
   * where every value is one). It would hold F8_E4M3 and F16 as float32, four and two times their
   * bytes, so they stay in their dtype on their own kernels, F8_E4M3 with its block scales where
   * each half has scales of its own ({@link WeightMatrix#canSlice}: DeepSeek-V3's heads of 256 rows
   * in blocks of 128; else float32).
   */
  AbsorbedDecode(int heads, int nope, int rope, int vDim, int rank, float scale, WeightMatrix kvB) {
    this.heads = heads;
    this.nope = nope;
    this.rope = rope;
    this.vDim = vDim;
    this.rank = rank;
    this.dim = rank + rope;
    this.scale = scale;
    if (kvB.rows() != heads * (nope + vDim) || kvB.cols() != rank) {
      throw new IllegalArgumentException(
          kvB.name()
              + ": ["
              + kvB.rows()
              + ", "
              + kvB.cols()
              + "] where kv_b of "
              + heads
              + " heads is ["
              + heads * (nope + vDim)
              + ", "
              + rank
              + "]");
    }
    foldK = new HeadFold[heads];
    unfoldV = new HeadFold[heads];
    int per = nope + vDim;
    boolean apart = kvB.dtype() == DType.F8_E4M3 || kvB.dtype() == DType.F16;
    for (int h = 0; h < heads; h++) {
      apart &= kvB.canSlice(h * per, nope) && kvB.canSlice(h * per + nope, vDim);
    }
    long bytes = 0;
    for (int h = 0; h < heads; h++) {
      if (apart) {
        String name = kvB.name() + " head " + h;
        foldK[h] = new HeadFold.Product(kvB.slice(name + " W_UK", h * per, nope, true));
        unfoldV[h] = new HeadFold.Product(kvB.slice(name + " W_UV", h * per + nope, vDim, false));
      } else {
        float[] k = new float[nope * rank];
        for (int i = 0; i < nope; i++) {
          kvB.copyRow(h * per + i, k, i * rank);
        }
        float[] row = new float[rank];
        float[] v = new float[rank * vDim];
        for (int d = 0; d < vDim; d++) {
          kvB.copyRow(h * per + nope + d, row, 0);
          for (int c = 0; c < rank; c++) {
            v[c * vDim + d] = row[c];
          }
        }
        foldK[h] = new HeadFold.Combination(RowCombination.of(nope, rank, k));
        unfoldV[h] = new HeadFold.Combination(RowCombination.of(rank, vDim, v));
      }
      bytes += foldK[h].bytes() + unfoldV[h].bytes();
    }
    foldBytes = bytes;
  }

  /** Bytes of the folds, read once per step. */
  long weightBytes() {
    return foldBytes;
  }

  /** Bytes one sequence's attention over {@code positions} reads from its cache. */
  long bytesRead(int positions) {
    return (long) positions * dim * Float.BYTES;
  }

  /**
   * Per row and head, the query folded into the latent space followed by its rotary part ({@code
   * [rows, heads, rank + rope]}): one vector of the cache rows' width, so a score is one dot
   * product with a cached row. {@code qNope}: {@code [rows, heads, nope]}; {@code qPe}: {@code
   * [rows, heads, rope]}, rotated.
   */
  float[] queries(float[] qNope, float[] qPe, int rows) {
    float[] queries = new float[rows * heads * dim];
    perHead(
        h -> {
          foldK[h].apply(qNope, h * nope, heads * nope, queries, h * dim, heads * dim, rows);
          for (int r = 0; r < rows; r++) {
            System.arraycopy(
                qPe, (r * heads + h) * rope, queries, (r * heads + h) * dim + rank, rope);
          }
        });
    return queries;
  }

  /**
   * {@code [rows, heads * vDim]}: each row's attention results ({@code latent}, {@code [rows,
   * heads, rank]}) out of the latent space.
   */
  float[] outputs(float[] latent, int rows) {
    float[] out = new float[rows * heads * vDim];
    perHead(
        h -> unfoldV[h].apply(latent, h * rank, heads * rank, out, h * vDim, heads * vDim, rows));
    return out;
  }

  /**
   * One head's fold at a time, the heads shared among the kernel threads in equal shares, as a
   * matrix's rows are: batch-1 steps level to 5% faster than in shrinking claims (seven of them for
   * eight heads), batch 8 level (medians, alternated in one process, six runs).
   */
  private void perHead(IntConsumer fold) {
    KernelThreads.forEqualShares(
        heads,
        1,
        weightBytes(),
        (from, to) -> {
          for (int h = from; h < to; h++) {
            fold.accept(h);
          }
        });
  }

  /**
   * Into how many ranges of heads {@code rows} query rows over at most {@code longest} positions
   * should be cut to keep {@code threads} threads busy: while there are fewer rows than threads and
   * the longest has fewer segments ({@link #segments}, which the threads share) than threads. A
   * range reads its row's cache once more, which pays only while it is short; and only where the
   * ranges are shared ({@code bytes}, the cache bytes read once, at least {@link
   * KernelThreads#MIN_PARALLEL_BYTES}) and each fills {@link Vectors#HEAD_LANES} lanes: a range of
   * four heads in eight lanes costs what all eight heads do.
   */
  int headParts(int rows, int longest, int threads, long bytes) {
    boolean shared = bytes >= KernelThreads.MIN_PARALLEL_BYTES;
    boolean full = heads / threads >= Vectors.HEAD_LANES;
    return rows < threads && segments(longest) < threads && shared && full ? threads : 1;
  }

  /**
   * The first head of range {@code i} of {@code parts} (range {@code i} ends where {@code i + 1}
   * starts), at a multiple of four. Every head gets the value it gets with all of them: each is
   * scored and weighted in a lane of its own ({@link Online}).
   */
  int headsFrom(int i, int parts) {
    return Math.min(heads, (heads * i / parts + 3) / 4 * 4);
  }

  /**
   * Into how many segments a row attending over positions {@code 0 .. end-1} is cut: one per {@link
   * #SEGMENT} positions begun, but two about even halves where the row's cache bytes are shared
   * among the kernel threads ({@link KernelThreads#MIN_PARALLEL_BYTES}) and it is not longer than
   * two segments. Whole, a row of up to 512 positions ran on one thread while the other waited, and
   * one of 600 was cut 512 and 88: batch-1 decode steps at 400-850 positions of the bench model,
   * alternated every 2 steps in one process, medians 2-7% faster in halves (batch 8 within the
   * alternation's own spread). Longer rows keep their cut every 512 positions: at 4096 positions,
   * cutting in ten even parts instead of nine (eight of 512 and the rest) gave batch-1 steps
   * 1.7-4.1% slower in four such runs. A function of {@code end} alone, so a row's result does not
   * depend on its batch nor on the thread count.
   */
  int segments(int end) {
    return inHalves(end) ? 2 : (end + SEGMENT - 1) / SEGMENT;
  }

  /**
   * Where segment {@code segment} of {@link #segments segments(end)} starts: in halves, at the
   * multiple of {@link #BLOCK} nearest {@code end / 2}; else every {@link #SEGMENT}; {@code end}
   * past the last.
   */
  int segmentStart(int end, int segment) {
    if (segment >= segments(end)) {
      return end;
    }
    return segment * (inHalves(end) ? (end + BLOCK) / (2 * BLOCK) * BLOCK : SEGMENT);
  }

  private boolean inHalves(int end) {
    return end > BLOCK && end <= 2 * SEGMENT && bytesRead(end) >= KernelThreads.MIN_PARALLEL_BYTES;
  }

  /**
   * Row {@code row} of {@code queries} (as {@link #queries} gives them) for heads {@code [from,
   * to)} ({@code 0, heads} for all; a range as {@link #headsFrom} gives it), laid out lane-wise for
   * {@link #segment} ({@code [groups, rank + rope, HEAD_LANES]}, a head a lane): built once for all
   * of a row's segments, which only read it.
   */
  LaneQuery laneQuery(float[] queries, int row, int from, int to) {
    int count = to - from;
    int queryAt = (row * heads + from) * dim;
    float[] query = new float[(count + G - 1) / G * dim * G];
    for (int h = 0; h < count; h++) {
      int at = (h / G) * dim * G + h % G;
      for (int k = 0; k < dim; k++) {
        query[at + k * G] = queries[queryAt + h * dim + k];
      }
    }
    return new LaneQuery(query, count);
  }

  /** A row's query for {@code heads} heads, lane-wise ({@link #laneQuery}). */
  record LaneQuery(float[] lanes, int heads) {}

  /**
   * A row attending over segment {@code segment} of positions {@code 0 .. end-1} of {@code layer},
   * for the heads of {@code query} (as {@link #laneQuery} gives it): a partial result, which {@link
   * #merge} combines with the row's other segments'. A segment's partial does not depend on which
   * thread computes it nor on the segments beside it.
   */
  Online segment(LaneQuery query, LatentCache cache, int layer, int end, int segment) {
    Online o = new Online(query);
    Runs runs = new Runs();
    cache.forEachRun(layer, segmentStart(end, segment), segmentStart(end, segment + 1), runs::add);
    for (int i = 0; i < runs.size; i++) {
      o.add(runs, i);
    }
    o.flush(null, 0, 0);
    return o;
  }

  /**
   * Writes the merge of a row's segment partials (in position order, as {@link #segment} gave them
   * for heads {@code [from, to)}) to {@code latent} at {@code (row * heads + h) * rank} for head h.
   */
  void merge(Online[] partials, int row, int from, int to, float[] latent) {
    int count = to - from;
    float[] top = new float[count];
    double[] total = new double[count];
    for (int h = 0; h < count; h++) {
      top[h] = Float.NEGATIVE_INFINITY;
      for (Online o : partials) {
        top[h] = Math.max(top[h], o.max[h]);
      }
      for (Online o : partials) {
        total[h] += o.weight[h] * Math.exp(o.max[h] - top[h]);
      }
    }
    // The segments' sums brought to the largest maximum of all and added in position order over
    // the total weight, lane-wise as the partials hold them (lanes past the heads times 0).
    float[] merged = new float[rank * G];
    float[] factor = new float[G];
    for (int g = 0; g * G < count; g++) {
      int lanes = Math.min(G, count - g * G);
      Arrays.fill(merged, 0f);
      Arrays.fill(factor, 0f);
      for (Online o : partials) {
        for (int lane = 0; lane < lanes; lane++) {
          int h = g * G + lane;
          factor[lane] = (float) (Math.exp(o.max[h] - top[h]) / total[h]);
        }
        Vectors.laneFma(factor, o.sums, g * rank * G, merged, 0, rank);
      }
      for (int lane = 0; lane < lanes; lane++) {
        int at = (row * heads + from + g * G + lane) * rank;
        for (int c = 0; c < rank; c++) {
          latent[at + c] = merged[c * G + lane];
        }
      }
    }
  }

  /** A segment's runs of consecutive cached rows, as {@link LatentCache#forEachRun} gives them. */
  static final class Runs {
    float[][] data = new float[SEGMENT / BLOCK + 1][];
    int[] offset = new int[data.length];
    int[] first = new int[data.length];
    int[] count = new int[data.length];
    int size;

    void add(float[] rows, int at, int position, int n) {
      if (size == data.length) {
        data = Arrays.copyOf(data, 2 * size);
        offset = Arrays.copyOf(offset, 2 * size);
        first = Arrays.copyOf(first, 2 * size);
        count = Arrays.copyOf(count, 2 * size);
      }
      data[size] = rows;
      offset[size] = at;
      first[size] = position;
      count[size] = n;
      size++;
    }
  }

  /**
   * One segment's attention in a single pass over its rows (an online softmax): rows are scored a
   * block at a time and weighted while the block is still in cache, the sums so far rescaled when a
   * block raises a head's maximum. Blocks start at multiples of {@link #BLOCK} whatever the pages
   * are, so the result depends on the positions alone.
   *
   * <p>Heads go {@link Vectors#HEAD_LANES} at a time, a head a lane: the query, the block's scores
   * and weights and the running sums are held lane-wise ({@code [.., HEAD_LANES]}), so each
   * multiply-add of a vector serves eight heads, a score needs no lane sums ({@link
   * Vectors#laneDots}) and a pass of weighted sums reads twelve columns from one row's address
   * ({@link Vectors#laneWeightedSums}). The last group's lanes past the range's heads hold zero
   * queries, whose results nothing reads.
   */
  final class Online {
    // The heads of the query, which may be a range of the layer's, and their groups of lanes.
    private final int heads;
    private final int groups;
    // Per group, the query lane-wise: [groups, dim, G]; the row's, shared by its segments.
    private final float[] query;
    final float[] max;
    final double[] weight;
    // Per group, the running sums lane-wise: [groups, rank, G].
    final float[] sums;
    // Per group, the block's scores, then weights, lane-wise: [groups, BLOCK, G].
    private final float[] scores;
    private final float[] top = new float[G];
    private final float[] factor = new float[G];
    private final double[] total = new double[G];
    // The block's rows so far, as runs of consecutive rows in place.
    private final float[][] runData = new float[BLOCK][];
    private final int[] runOffset = new int[BLOCK];
    private final int[] runIndex = new int[BLOCK];
    private final int[] runCount = new int[BLOCK];
    private int runs;
    private int filled;
    // What the reads ahead returned, kept so that their loads are not dropped.
    float readAhead;
    // The rows read during the last block's weighting: no need to read them again.
    private float[] touched;
    private int touchedAt;
    private int touchedLength;

    Online(LaneQuery q) {
      heads = q.heads();
      groups = (heads + G - 1) / G;
      query = q.lanes();
      max = new float[heads];
      weight = new double[heads];
      sums = new float[groups * rank * G];
      scores = new float[groups * BLOCK * G];
      Arrays.fill(max, Float.NEGATIVE_INFINITY);
    }

    /** Run {@code i} of {@code all}: the run after it is where the next block's rows may start. */
    void add(Runs all, int i) {
      float[] data = all.data[i];
      int offset = all.offset[i];
      int first = all.first[i];
      int count = all.count[i];
      for (int t = 0; t < count; ) {
        int index = (first + t) % BLOCK;
        int n = Math.min(count - t, BLOCK - index);
        int rows = offset + t * dim;
        if (data != touched || rows != touchedAt || n * dim > touchedLength) {
          readAhead += Vectors.readAhead(data, rows, n * dim);
        }
        touched = null;
        for (int g = 0; g < groups; g++) {
          Vectors.laneDots(query, g * dim * G, data, rows, dim, n, scores, (g * BLOCK + index) * G);
        }
        runData[runs] = data;
        runOffset[runs] = rows;
        runIndex[runs] = index;
        runCount[runs] = n;
        runs++;
        filled = index + n;
        t += n;
        if (filled == BLOCK) {
          // The next block's rows: the rest of this run, or the next run.
          if (t < count) {
            flush(data, offset + t * dim, Math.min(BLOCK, count - t) * dim);
          } else if (i + 1 < all.size) {
            flush(all.data[i + 1], all.offset[i + 1], Math.min(BLOCK, all.count[i + 1]) * dim);
          } else {
            flush(null, 0, 0);
          }
        }
      }
    }

    /**
     * Weights the block's rows into the sums, reading {@code aheadLength} floats of {@code ahead}
     * (the next block's rows, or none: null) meanwhile.
     */
    void flush(float[] ahead, int aheadAt, int aheadLength) {
      if (filled == 0) {
        return;
      }
      for (int g = 0; g < groups; g++) {
        int at = g * BLOCK * G;
        int lanes = Math.min(G, heads - g * G);
        // Lanes past the heads score zero: they take 0 as their maximum, and their weights are 1.
        Arrays.fill(top, 0f);
        System.arraycopy(max, g * G, top, 0, lanes);
        Vectors.laneScaleMax(scores, at, filled, scale, top);
        boolean rescale = false;
        Arrays.fill(factor, 1f);
        for (int lane = 0; lane < lanes; lane++) {
          int h = g * G + lane;
          if (top[lane] > max[h]) {
            if (weight[h] > 0) {
              factor[lane] = Vectors.expOfNonPositive(max[h] - top[lane]);
              weight[h] *= factor[lane];
              rescale = true;
            }
            max[h] = top[lane];
          }
        }
        if (rescale) {
          // Times 1 in the lanes whose maximum held: exact, so they keep their bits.
          Vectors.laneScale(sums, g * rank * G, rank, factor);
        }
        Vectors.expShiftedLanes(scores, at, filled, top);
        Arrays.fill(total, 0);
        System.arraycopy(weight, g * G, total, 0, lanes);
        Vectors.laneTotals(scores, at, filled, total);
        System.arraycopy(total, 0, weight, g * G, lanes);
        for (int r = 0; r < runs; r++) {
          boolean reads = ahead != null && g == 0 && r == 0;
          readAhead +=
              Vectors.laneWeightedSums(
                  scores,
                  at + runIndex[r] * G,
                  runData[r],
                  runOffset[r],
                  dim,
                  runCount[r],
                  rank,
                  sums,
                  g * rank * G,
                  reads ? ahead : runData[r],
                  aheadAt,
                  reads ? aheadLength : 0);
        }
      }
      if (ahead != null && aheadLength <= Vectors.aheadCapacity(runCount[0], rank)) {
        touched = ahead;
        touchedAt = aheadAt;
        touchedLength = aheadLength;
      }
      runs = 0;
      filled = 0;
    }
  }
}
