package io.disaggmoe.model.kernel;

/**
 * How BF16 and FP8 weights are held for their kernels ({@link Bf16MatMul}, {@link Fp8MatMul}): in
 * tiles of {@link #TILE} outputs, the ints of one column group of a tile's rows side by side, so
 * that one vector load brings the same columns of a vector's worth of outputs. The rows past the
 * last whole tile stay as stored, after the tiles.
 */
final class Tiles {
  /**
   * Outputs per tile, and ints per column group of a tile: a vector's lanes (16 with AVX-512, 8
   * with AVX2), at least 8, so that each load of a tile's column group is a vector and a pass
   * through a tile uses every byte of each cache line it brings. Sixteen on a machine of 8 lanes
   * took two passes through each tile, each using half of every line: the first kept the memory
   * busy with half the arithmetic per line's worth of instructions, the second read only from cache
   * while no line was asked for. One row through matrices and whole experts from memory (Zen 3,
   * AVX2, `bench kernels`): 0.77-1.12 of the read probe against 0.68-0.80; experts at two rows
   * 0.72-0.82 against 0.48-0.51. A sum is the same whatever the tile (each output sums in its own
   * lane).
   */
  static final int TILE = MatMul.vectorAvailable() ? Math.max(8, Vectors.Simd.LANES) : 16;

  /** Bytes the kernels read ahead at a time: whole tiles, staying in L2 while their passes run. */
  private static final int READ_AHEAD_BYTES = 64 * 1024;

  private Tiles() {}

  /**
   * {@code ints} ({@code rows} of {@code perRow}) with the rows of each whole tile interleaved: an
   * int of each row, then the next int of each row. The rows past the last whole tile stay as they
   * are.
   */
  static int[] interleave(int[] ints, int rows, int perRow) {
    int whole = tiledRows(rows);
    int[] held = new int[ints.length];
    for (int r = 0; r < whole; r++) {
      int at = index(r, perRow, 0);
      for (int i = 0; i < perRow; i++) {
        held[at + i * TILE] = ints[r * perRow + i];
      }
    }
    System.arraycopy(ints, whole * perRow, held, whole * perRow, (rows - whole) * perRow);
    return held;
  }

  /** Where row {@code row}'s int {@code i} is held, for a row in a whole tile. */
  static int index(int row, int perRow, int i) {
    return ((row / TILE) * perRow + i) * TILE + row % TILE;
  }

  /** Rows of {@code rows} held in whole tiles. */
  static int tiledRows(int rows) {
    return rows - rows % TILE;
  }

  /** Whole tiles of {@code perRow} ints in {@link #READ_AHEAD_BYTES}, at least one. */
  static int readAheadTiles(int perRow) {
    return Math.max(1, READ_AHEAD_BYTES / (TILE * perRow * Integer.BYTES));
  }
}
