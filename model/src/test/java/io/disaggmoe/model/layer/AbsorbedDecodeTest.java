package io.disaggmoe.model.layer;

import static org.assertj.core.api.Assertions.assertThat;

import io.disaggmoe.model.cache.LatentPagePool;
import io.disaggmoe.model.cache.PagedLatentCache;
import io.disaggmoe.model.kernel.KernelThreads;
import io.disaggmoe.model.kernel.Vectors;
import io.disaggmoe.model.kernel.WeightMatrix;
import io.disaggmoe.model.weights.DType;
import io.disaggmoe.model.weights.Fp8E4m3;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Decode attention read in one pass over the paged cache: equal to the plain algebra (folded query,
 * softmax in double, weighted rows, {@code W_UV}) within float rounding, across block and segment
 * boundaries, and bit for bit the same whatever the page size or the batch.
 */
class AbsorbedDecodeTest {
  private static final int HEADS = 6;
  private static final int NOPE = 8;
  // The bench preset's latent rows (256 + 32 floats, 1,152 bytes): rows past 227 positions are
  // shared among the kernel threads, so those up to two segments are cut in halves.
  private static final int ROPE = 32;
  private static final int V_DIM = 8;
  private static final int RANK = 256;
  private static final int DIM = RANK + ROPE;
  private static final float SCALE = 0.3f;

  private static float[] random(int n, long seed, double spread) {
    SplittableRandom r = new SplittableRandom(seed);
    float[] v = new float[n];
    for (int i = 0; i < n; i++) {
      v[i] = (float) ((r.nextDouble() * 2 - 1) * spread);
    }
    return v;
  }

  // W_UK [heads, nope, rank] and W_UV [heads, vDim, rank], rounded to BF16 as a BF16 checkpoint's.
  private final float[] absorbK = bf16(random(HEADS * NOPE * RANK, 1, 0.5));
  private final float[] absorbV = bf16(random(HEADS * V_DIM * RANK, 2, 0.5));
  private final float[] qNope = random(HEADS * NOPE, 3, 1);
  private final float[] qPe = random(HEADS * ROPE, 4, 1);
  private final AbsorbedDecode decode = decodeOf(float32KvB(kvB()));

  private static AbsorbedDecode decodeOf(WeightMatrix kvB) {
    return new AbsorbedDecode(HEADS, NOPE, ROPE, V_DIM, RANK, SCALE, kvB);
  }

  private static WeightMatrix float32KvB(float[] values) {
    return WeightMatrix.ofF32("kv_b", HEADS * (NOPE + V_DIM), RANK, values);
  }

  private static float[] bf16(float[] v) {
    for (int i = 0; i < v.length; i++) {
      v[i] = Float.intBitsToFloat(Float.floatToRawIntBits(v[i]) & 0xFFFF0000);
    }
    return v;
  }

  /** {@code kv_b} as the checkpoint holds it: per head, W_UK's rows, then W_UV's. */
  private float[] kvB() {
    float[] kv = new float[HEADS * (NOPE + V_DIM) * RANK];
    for (int h = 0; h < HEADS; h++) {
      System.arraycopy(absorbK, h * NOPE * RANK, kv, h * (NOPE + V_DIM) * RANK, NOPE * RANK);
      System.arraycopy(
          absorbV, h * V_DIM * RANK, kv, (h * (NOPE + V_DIM) + NOPE) * RANK, V_DIM * RANK);
    }
    return kv;
  }

  private static float[] rows(int end) {
    // Rising along the positions, so that later blocks raise the running maximum.
    float[] rows = random(end * DIM, 5, 1);
    for (int t = 0; t < end; t++) {
      for (int c = 0; c < DIM; c++) {
        rows[t * DIM + c] += (float) (t * 0.002);
      }
    }
    return rows;
  }

  private float[] attend(float[] rows, int end, int pageTokens) {
    try (LatentPagePool pool = new LatentPagePool(1, DIM, pageTokens, Integer.MAX_VALUE);
        PagedLatentCache cache = new PagedLatentCache(pool)) {
      cache.write(0, 0, rows, 0, end);
      float[] latent = new float[HEADS * RANK];
      attend(decode.queries(qNope, qPe, 1), cache, end, latent, 0, HEADS);
      return decode.outputs(latent, 1);
    }
  }

  /** Row 0's heads {@code [from, to)}: its segments one after another, then merged. */
  private void attend(
      float[] queries, PagedLatentCache cache, int end, float[] latent, int from, int to) {
    AbsorbedDecode.Online[] partials = new AbsorbedDecode.Online[decode.segments(end)];
    AbsorbedDecode.LaneQuery laneQuery = decode.laneQuery(queries, 0, from, to);
    for (int s = 0; s < partials.length; s++) {
      partials[s] = decode.segment(laneQuery, cache, 0, end, s);
    }
    decode.merge(partials, 0, from, to, latent);
  }

  /** The algebra in double, one head at a time. */
  private double[] reference(float[] rows, int end) {
    double[] out = new double[HEADS * V_DIM];
    for (int h = 0; h < HEADS; h++) {
      double[] query = new double[DIM];
      for (int c = 0; c < RANK; c++) {
        for (int d = 0; d < NOPE; d++) {
          query[c] += (double) qNope[h * NOPE + d] * absorbK[(h * NOPE + d) * RANK + c];
        }
      }
      for (int c = 0; c < ROPE; c++) {
        query[RANK + c] = qPe[h * ROPE + c];
      }
      double[] score = new double[end];
      double top = Double.NEGATIVE_INFINITY;
      for (int t = 0; t < end; t++) {
        for (int c = 0; c < DIM; c++) {
          score[t] += query[c] * rows[t * DIM + c];
        }
        score[t] *= SCALE;
        top = Math.max(top, score[t]);
      }
      double total = 0;
      for (int t = 0; t < end; t++) {
        score[t] = Math.exp(score[t] - top);
        total += score[t];
      }
      double[] latent = new double[RANK];
      for (int t = 0; t < end; t++) {
        for (int c = 0; c < RANK; c++) {
          latent[c] += score[t] / total * rows[t * DIM + c];
        }
      }
      for (int v = 0; v < V_DIM; v++) {
        for (int c = 0; c < RANK; c++) {
          out[h * V_DIM + v] += latent[c] * absorbV[(h * V_DIM + v) * RANK + c];
        }
      }
    }
    return out;
  }

  @Test
  void equalsThePlainAlgebraAcrossBlocksAndSegments() {
    for (int end :
        new int[] {
          1,
          AbsorbedDecode.BLOCK - 1,
          AbsorbedDecode.BLOCK,
          AbsorbedDecode.BLOCK + 1,
          400,
          AbsorbedDecode.SEGMENT + 3,
          3 * AbsorbedDecode.SEGMENT + 70
        }) {
      float[] rows = rows(end);
      float[] got = attend(rows, end, 64);
      double[] want = reference(rows, end);
      for (int i = 0; i < got.length; i++) {
        assertThat((double) got[i])
            .as("output %d (head %d) at %d positions", i, i / V_DIM, end)
            .isCloseTo(
                want[i], org.assertj.core.data.Offset.offset(2e-5 + 2e-5 * Math.abs(want[i])));
      }
    }
  }

  @Test
  void kvBsHalvesStayBf16AndEachRowFoldsAsItDoesAlone() {
    assertThat(decode.weightBytes())
        .as("W_UK and W_UV of every head, two bytes a value")
        .isEqualTo(2L * HEADS * (NOPE + V_DIM) * RANK);
    int rows = 3;
    float[] nope = random(rows * HEADS * NOPE, 6, 1);
    float[] pe = random(rows * HEADS * ROPE, 7, 1);
    float[] all = decode.queries(nope, pe, rows);
    for (int r = 0; r < rows; r++) {
      float[] alone =
          decode.queries(
              java.util.Arrays.copyOfRange(nope, r * HEADS * NOPE, (r + 1) * HEADS * NOPE),
              java.util.Arrays.copyOfRange(pe, r * HEADS * ROPE, (r + 1) * HEADS * ROPE),
              1);
      assertThat(java.util.Arrays.copyOfRange(all, r * HEADS * DIM, (r + 1) * HEADS * DIM))
          .as("row %d's folded queries in a batch of %d against alone", r, rows)
          .containsExactly(alone);
    }
  }

  @Test
  void fp8AndF16HalvesStayInTheirDtypeAndFoldAsTheirWidenedValuesDo() {
    int kvRows = HEADS * (NOPE + V_DIM);
    float[] v = random(kvRows * RANK, 8, 100);
    byte[] bytes = new byte[v.length];
    short[] halves = new short[v.length];
    for (int i = 0; i < v.length; i++) {
      bytes[i] = Fp8E4m3.fromFloat(v[i]);
      halves[i] = Float.floatToFloat16(v[i] / 1000);
    }
    float[] scales = random((kvRows / NOPE) * (RANK / 128), 9, 0.01);
    for (int i = 0; i < scales.length; i++) {
      scales[i] = Math.abs(scales[i]) + 1e-4f;
    }
    // FP8 in blocks of NOPE rows: every half of every head has scales of its own.
    WeightMatrix[] kvBs = {
      WeightMatrix.ofFp8("kv_b", kvRows, RANK, bytes, scales, NOPE, 128),
      WeightMatrix.ofHalf("kv_b", DType.F16, kvRows, RANK, halves)
    };
    for (WeightMatrix kvB : kvBs) {
      float[] widened = new float[kvRows * RANK];
      for (int r = 0; r < kvRows; r++) {
        kvB.copyRow(r, widened, r * RANK);
      }
      AbsorbedDecode held = decodeOf(kvB);
      AbsorbedDecode f32 = decodeOf(float32KvB(widened));
      assertThat(held.weightBytes())
          .as("%s halves: kv_b's bytes and scales", kvB.dtype())
          .isEqualTo(kvB.bytes());
      int rows = 3;
      float[] nope = random(rows * HEADS * NOPE, 10, 1);
      float[] pe = random(rows * HEADS * ROPE, 11, 1);
      float[] latent = random(rows * HEADS * RANK, 12, 1);
      assertCloseEach(
          kvB.dtype() + " folded queries",
          held.queries(nope, pe, rows),
          f32.queries(nope, pe, rows));
      assertCloseEach(
          kvB.dtype() + " outputs", held.outputs(latent, rows), f32.outputs(latent, rows));
      float[] all = held.outputs(latent, rows);
      for (int r = 0; r < rows; r++) {
        float[] alone =
            held.outputs(
                java.util.Arrays.copyOfRange(latent, r * HEADS * RANK, (r + 1) * HEADS * RANK), 1);
        assertThat(java.util.Arrays.copyOfRange(all, r * HEADS * V_DIM, (r + 1) * HEADS * V_DIM))
            .as("%s: row %d's outputs in a batch of %d against alone", kvB.dtype(), r, rows)
            .containsExactly(alone);
      }
    }
  }

  private static void assertCloseEach(String what, float[] got, float[] want) {
    assertThat(got).hasSameSizeAs(want);
    for (int i = 0; i < got.length; i++) {
      assertThat(got[i])
          .as("%s: element %d, against the halves' float32 values", what, i)
          .isCloseTo(want[i], org.assertj.core.data.Offset.offset(1e-5f * (1 + Math.abs(want[i]))));
    }
  }

  @Test
  void headsAttendedInRangesGetTheirValuesWithAllHeads() {
    int end = AbsorbedDecode.BLOCK + 9;
    float[] rows = rows(end);
    float[] all = attend(rows, end, 64);
    float[] queries = decode.queries(qNope, qPe, 1);
    for (int parts : new int[] {2, 3}) {
      float[] ranges = new float[HEADS * RANK];
      try (LatentPagePool pool = new LatentPagePool(1, DIM, 64, Integer.MAX_VALUE);
          PagedLatentCache cache = new PagedLatentCache(pool)) {
        cache.write(0, 0, rows, 0, end);
        for (int i = 0; i < parts; i++) {
          int from = decode.headsFrom(i, parts);
          int to = decode.headsFrom(i + 1, parts);
          assertThat(from % 4).as("range %d of %d starts at head %d", i, parts, from).isZero();
          attend(queries, cache, end, ranges, from, to);
        }
      }
      assertThat(decode.outputs(ranges, 1))
          .as("heads in %d ranges against all at once", parts)
          .containsExactly(all);
    }
  }

  @Test
  void headsAreCutIntoRangesOnlyWhereTheRangesAreSharedAndFillTheLanes() {
    long shared = KernelThreads.MIN_PARALLEL_BYTES;
    int lanes = Vectors.HEAD_LANES;
    AbsorbedDecode wide =
        new AbsorbedDecode(
            2 * lanes,
            NOPE,
            ROPE,
            V_DIM,
            RANK,
            SCALE,
            WeightMatrix.ofF32(
                "kv_b",
                2 * lanes * (NOPE + V_DIM),
                RANK,
                random(2 * lanes * (NOPE + V_DIM) * RANK, 5, 0.5)));
    int oneSegment = AbsorbedDecode.BLOCK + 9;
    assertThat(wide.headParts(1, oneSegment, 2, shared))
        .as("one short row, %d heads, shared", 2 * lanes)
        .isEqualTo(2);
    assertThat(wide.headParts(1, oneSegment, 2, shared - 1))
        .as("too few cache bytes to share")
        .isEqualTo(1);
    assertThat(wide.headParts(2, 100, 2, shared)).as("as many rows as threads").isEqualTo(1);
    assertThat(wide.headParts(1, AbsorbedDecode.SEGMENT + 1, 2, shared))
        .as("a row of two segments")
        .isEqualTo(1);
    assertThat(wide.headParts(1, 400, 2, shared)).as("a row cut in halves").isEqualTo(1);
    assertThat(wide.headParts(1, oneSegment, 4, shared))
        .as("ranges of %d heads in %d lanes", lanes / 2, lanes)
        .isEqualTo(1);
    assertThat(decode.headParts(1, AbsorbedDecode.SEGMENT, 2, shared))
        .as("%d heads", HEADS)
        .isEqualTo(1);
  }

  @Test
  void sharedRowsOfUpToTwoSegmentsAreCutInHalvesAtBlocks() {
    int segment = AbsorbedDecode.SEGMENT;
    int shared = (int) (KernelThreads.MIN_PARALLEL_BYTES / decode.bytesRead(1));
    for (int end = 1; end <= 5000; end++) {
      boolean halves = end > shared && end <= 2 * segment;
      int count = decode.segments(end);
      assertThat(count)
          .as("segments of %d positions", end)
          .isEqualTo(halves ? 2 : (end + segment - 1) / segment);
      assertThat(decode.segmentStart(end, 0)).isZero();
      assertThat(decode.segmentStart(end, count)).isEqualTo(end);
      for (int s = 1; s < count; s++) {
        int start = decode.segmentStart(end, s);
        if (halves) {
          assertThat(start % AbsorbedDecode.BLOCK).as("the half of %d positions", end).isZero();
          assertThat(Math.abs(start - end / 2.0))
              .as("%d positions cut at %d", end, start)
              .isLessThanOrEqualTo(AbsorbedDecode.BLOCK / 2.0);
        } else {
          assertThat(start).as("segment %d of %d positions", s, end).isEqualTo(s * segment);
        }
      }
    }
    assertThat(decode.segmentStart(400, 1)).as("400 positions, cut in two").isEqualTo(192);
    assertThat(decode.segmentStart(shared, 1))
        .as("%d positions: one segment", shared)
        .isEqualTo(shared);
  }

  @Test
  void segmentsComputedInAnyOrderMergeToTheSameBits() {
    int end = 3 * AbsorbedDecode.SEGMENT + 70;
    float[] rows = rows(end);
    float[] inOrder = attend(rows, end, 64);
    float[] queries = decode.queries(qNope, qPe, 1);
    try (LatentPagePool pool = new LatentPagePool(1, DIM, 64, Integer.MAX_VALUE);
        PagedLatentCache cache = new PagedLatentCache(pool)) {
      cache.write(0, 0, rows, 0, end);
      // Last segment first, as another thread may finish it first.
      AbsorbedDecode.Online[] partials = new AbsorbedDecode.Online[decode.segments(end)];
      AbsorbedDecode.LaneQuery laneQuery = decode.laneQuery(queries, 0, 0, HEADS);
      for (int s = partials.length - 1; s >= 0; s--) {
        partials[s] = decode.segment(laneQuery, cache, 0, end, s);
      }
      float[] latent = new float[HEADS * RANK];
      decode.merge(partials, 0, 0, HEADS, latent);
      assertThat(decode.outputs(latent, 1))
          .as("%d segments computed last first, against in order", partials.length)
          .containsExactly(inOrder);
    }
  }

  @Test
  void theResultDoesNotDependOnThePageSize() {
    // Four segments and a part, each cut differently into pages.
    int end = 4 * AbsorbedDecode.SEGMENT + 37;
    float[] rows = rows(end);
    float[] byPagesOf64 = attend(rows, end, 64);
    for (int pageTokens : new int[] {16, 48, 100, 1024}) {
      assertThat(attend(rows, end, pageTokens))
          .as("output with pages of %d positions against pages of 64", pageTokens)
          .containsExactly(byPagesOf64);
    }
  }
}
