package io.disaggmoe.model.kernel;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.core.Linear;
import io.disaggmoe.model.weights.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/** Picks the kernel for a multiplication by a {@link WeightMatrix} and runs it. */
public final class MatMul {
  /**
   * Rows the Vector API kernels multiply at once: more are taken this many at a time, so that a
   * block's activations stay in L2 while every output reads them (a 2048-row prompt's do not).
   */
  public static final int ROW_BLOCK = 64;

  private static final boolean VECTOR_PRESENT =
      ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

  /** Read once: choosing a kernel is on the path of every multiplication. */
  private static final Kernel CONFIGURED = Kernel.configured();

  private static volatile Kernel override = null;

  /** The dtypes whose kernels {@link #warmUp(Set)} has compiled, and whether the folds' too. */
  private static final Set<DType> warmed = EnumSet.noneOf(DType.class);

  private static boolean foldsWarm;

  private MatMul() {}

  /** Whether the Vector API module is loaded (the JVM runs with {@code --add-modules}). */
  public static boolean vectorAvailable() {
    return VECTOR_PRESENT;
  }

  /**
   * Compiles the Vector API kernels of {@code dtypes} (a checkpoint's {@code matrixDtypes}), and
   * attention's folds, before the first request needs them: until the JIT has compiled them they
   * run hundreds of times slower, and a model's own steps take a minute of decode to get there.
   * Each dtype once per process, and only those a checkpoint holds: a BF16 model's warm-up took
   * 2.4-2.5 s here (4.6 s of CPU with the JIT's threads) where F32's, BF16's and FP8's together
   * took 3.5-3.9 s (6.2-6.5), at every start of every process that loads weights.
   */
  public static synchronized void warmUp(Set<DType> dtypes) {
    if (!VECTOR_PRESENT) {
      return;
    }
    int rows = 64;
    int cols = 256;
    List<WeightMatrix> weights = new ArrayList<>();
    for (DType dtype : dtypes) {
      WeightMatrix w = warmed.contains(dtype) ? null : zeros(dtype, rows, cols);
      if (w != null) {
        weights.add(w);
      }
    }
    if (weights.isEmpty() && foldsWarm) {
      return;
    }
    // 1, 2, 7 and 8 rows: every tile form this machine's vectors use runs, and the read-ahead.
    float[] x = new float[8 * cols];
    float[] y = new float[8 * rows];
    // Attention's folds: BF16 (zeros are BF16) and float32 (ones past BF16's precision).
    float[] f32 = new float[64 * 256];
    Arrays.fill(f32, 1.001f);
    RowCombination[] folds = {
      RowCombination.of(64, 256, new float[64 * 256]), RowCombination.of(64, 256, f32)
    };
    for (int i = 0; i < 3000; i++) {
      for (WeightMatrix w : weights) {
        run(Kernel.VECTOR, w, x, 1, y);
        run(Kernel.VECTOR, w, x, 2, y);
        run(Kernel.VECTOR, w, x, 7, y);
        run(Kernel.VECTOR, w, x, 8, y);
      }
      if (!foldsWarm) {
        for (RowCombination f : folds) {
          f.multiply(x, 0, y, 0);
        }
        // Every expert's SwiGLU product, between its multiplications.
        Vectors.siluTimes(y, x, y.length);
      }
    }
    warmed.addAll(dtypes);
    foldsWarm = true;
  }

  /** A matrix of zeros in {@code dtype}, or null where no Vector API kernel reads that dtype. */
  private static WeightMatrix zeros(DType dtype, int rows, int cols) {
    return switch (dtype) {
      case F32 -> WeightMatrix.ofF32("warm-up", rows, cols, new float[rows * cols]);
      case BF16, F16 -> WeightMatrix.ofHalf("warm-up", dtype, rows, cols, new short[rows * cols]);
      case F8_E4M3 ->
          WeightMatrix.ofFp8(
              "warm-up",
              rows,
              cols,
              new byte[rows * cols],
              new float[(rows / 16) * (cols / 128)],
              16,
              128);
      default -> null;
    };
  }

  /** Forces one kernel (null: back to the configured one); for tests and benchmarks. */
  public static void override(Kernel kernel) {
    override = kernel;
  }

  /** The kernel that multiplies {@code n} rows by {@code w}. */
  public static Kernel choose(WeightMatrix w, int n) {
    Kernel k = override != null ? override : CONFIGURED;
    boolean vector = VECTOR_PRESENT && hasVectorKernel(w);
    return switch (k) {
      case AUTO -> vector ? Kernel.VECTOR : n > ROW_BLOCK ? Kernel.TORCH : Kernel.SCALAR;
      case VECTOR -> vector ? Kernel.VECTOR : Kernel.SCALAR;
      default -> k;
    };
  }

  /**
   * Whether a Vector API kernel reads {@code w}'s dtype and layout: {@link VectorMatMul} (F32),
   * {@link Bf16MatMul}, {@link F16MatMul} or {@link Fp8MatMul} (whose layout needs blocks of whole
   * ints). Else the scalar kernel does.
   */
  private static boolean hasVectorKernel(WeightMatrix w) {
    return switch (w.dtype()) {
      case F32, BF16, F16 -> true;
      case F8_E4M3 -> Fp8MatMul.supports(w);
      default -> false;
    };
  }

  static NDArray apply(WeightMatrix w, NDArray x) {
    Shape shape = x.getShape();
    int n = (int) shape.get(0);
    checkInput(w, shape.get(1));
    Kernel kernel = choose(w, n);
    if (kernel == Kernel.TORCH) {
      // The widened copy is freed at once: held to the end of a prefill step, the copies of every
      // expert of every layer added up to gigabytes.
      try (NDManager scratch = x.getManager().newSubManager()) {
        NDArray y = Linear.linear(x, w.widened(scratch)).singletonOrThrow();
        y.attach(x.getManager());
        return y;
      }
    }
    float[] y = new float[n * w.rows()];
    run(kernel, w, x.toFloatArray(), n, y);
    return x.getManager().create(y, new Shape(n, w.rows()));
  }

  static void multiply(WeightMatrix w, float[] x, int n, float[] y) {
    checkInput(w, x.length / Math.max(n, 1));
    Kernel kernel = choose(w, n);
    if (kernel == Kernel.TORCH) {
      try (NDManager m = NDManager.newBaseManager()) {
        NDArray product = apply(w, m.create(x, new Shape(n, w.cols())));
        System.arraycopy(product.toFloatArray(), 0, y, 0, n * w.rows());
      }
      return;
    }
    run(kernel, w, x, n, y);
  }

  private static void run(Kernel kernel, WeightMatrix w, float[] x, int n, float[] y) {
    if (n <= ROW_BLOCK) {
      runBlock(kernel, w, x, n, y);
      return;
    }
    int cols = w.cols();
    int outputs = w.rows();
    for (int from = 0; from < n; from += ROW_BLOCK) {
      int m = Math.min(ROW_BLOCK, n - from);
      float[] yBlock = new float[m * outputs];
      runBlock(kernel, w, Arrays.copyOfRange(x, from * cols, (from + m) * cols), m, yBlock);
      System.arraycopy(yBlock, 0, y, from * outputs, m * outputs);
    }
  }

  private static void runBlock(Kernel kernel, WeightMatrix w, float[] x, int n, float[] y) {
    if (kernel != Kernel.VECTOR) {
      ScalarMatMul.multiply(w, x, n, y);
    } else {
      KernelThreads.forRows(w, block(w), vectorRows(w, x, n, y));
    }
  }

  /** The outputs a Vector API kernel's share of {@code w} starts on a multiple of. */
  private static int block(WeightMatrix w) {
    return w.dtype() == DType.F32 ? 1 : Tiles.TILE;
  }

  /** Outputs {@code [from, to)} of {@code y = x · wᵀ} by {@code w}'s Vector API kernel. */
  private static KernelThreads.Rows vectorRows(WeightMatrix w, float[] x, int n, float[] y) {
    return switch (w.dtype()) {
      case BF16 -> (from, to) -> Bf16MatMul.multiply(w, x, n, y, from, to);
      case F8_E4M3 -> (from, to) -> Fp8MatMul.multiply(w, x, n, y, from, to);
      case F16 -> (from, to) -> F16MatMul.multiply(w, x, n, y, from, to);
      default -> (from, to) -> VectorMatMul.multiply(w, x, n, y, from, to);
    };
  }

  /**
   * {@link #multiply} of the same {@code x} by {@code a} into {@code ya} and by {@code b} into
   * {@code yb}, in one share-out among the kernel threads where both run on the same Vector API
   * kernel: one handoff instead of two, and each thread's share spans both matrices (attention's
   * two down-projections at a decode step, 0.8 and 0.6 MB on the bench model). The same results as
   * two calls, bit for bit: an output's sum does not depend on the share it falls in.
   */
  static void multiplyPair(
      WeightMatrix a, WeightMatrix b, float[] x, int n, float[] ya, float[] yb) {
    Kernel kernel = choose(a, n);
    if (kernel != Kernel.VECTOR
        || choose(b, n) != Kernel.VECTOR
        || n > ROW_BLOCK
        || block(a) != block(b)) {
      multiply(a, x, n, ya);
      multiply(b, x, n, yb);
      return;
    }
    checkInput(a, x.length / Math.max(n, 1));
    checkInput(b, x.length / Math.max(n, 1));
    int block = block(a);
    // b's outputs start at the first block boundary past a's, so that no share splits a block.
    int bStart = (a.rows() + block - 1) / block * block;
    KernelThreads.Rows rowsA = vectorRows(a, x, n, ya);
    KernelThreads.Rows rowsB = vectorRows(b, x, n, yb);
    KernelThreads.forEqualShares(
        bStart + b.rows(),
        block,
        a.bytes() + b.bytes(),
        (from, to) -> {
          if (from < a.rows()) {
            rowsA.run(from, Math.min(to, a.rows()));
          }
          if (to > bStart) {
            rowsB.run(Math.max(from, bStart) - bStart, to - bStart);
          }
        });
  }

  private static void checkInput(WeightMatrix w, long cols) {
    if (cols != w.cols()) {
      throw new IllegalArgumentException(
          w.name() + " takes rows of " + w.cols() + " values, got " + cols);
    }
  }

  static boolean needsTorch(WeightMatrix w, int n) {
    return choose(w, n) == Kernel.TORCH;
  }
}
