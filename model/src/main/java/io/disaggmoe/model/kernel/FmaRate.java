package io.disaggmoe.model.kernel;

import io.disaggmoe.model.ComputeThread;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures how many float multiply-adds per second the kernel threads together complete when
 * nothing but arithmetic limits them: the compute bound of work, like attention over a long
 * context, whose operands stay in cache. Each thread runs independent chains of fused multiply-adds
 * on registers, as many as it takes to hide their latency, in the vector width the kernels use.
 */
public final class FmaRate {
  /** Multiply-adds per chain in one timed pass: about 40 ms at the rate of this machine's cores. */
  private static final int STEPS = 20_000_000;

  // Two pipes of four-cycle multiply-adds keep eight in flight; sixteen leave room to spare.
  private static final int CHAINS = 16;

  // As many calls as the read probe's warm-up: well past the JIT's threshold for a method.
  private static final int WARM_UP_CALLS = 20_000;

  private FmaRate() {}

  /**
   * Floating-point operations (a multiply-add counts two) per second on {@link
   * KernelThreads#count()} threads, the first of them {@code thread}: the best of five passes.
   */
  public static double measure(ComputeThread thread) {
    return thread.call(
        () -> {
          int parts = KernelThreads.count();
          float[] results = new float[parts];
          // Compiled before it is timed, as the read probe is: by many short calls, so that the
          // JIT compiles the method whole. After 200 calls of 1,000 steps it had only compiled the
          // loop on its own (on-stack replacement, entered from the interpreter's vectors), and
          // that code boxed one chain's vector every step: the first probe of a process ran 5-6 s
          // instead of 0.4, its early passes at a fraction of the rate.
          for (int i = 0; i < WARM_UP_CALLS; i++) {
            results[0] += chains(64);
          }
          double best = 0;
          for (int pass = 0; pass < 5; pass++) {
            long start = System.nanoTime();
            KernelThreads.onEveryThread(i -> results[i] = chains(STEPS));
            long ns = System.nanoTime() - start;
            for (float r : results) {
              if (!Float.isFinite(r)) {
                throw new IllegalStateException("the multiply-add probe ended at " + r);
              }
            }
            best = Math.max(best, parts * (double) STEPS * flopsPerStep() / (ns / 1e9));
          }
          return best;
        });
  }

  private static float chains(int steps) {
    return MatMul.vectorAvailable() ? Simd.chains(steps) : scalarChains(steps);
  }

  private static double flopsPerStep() {
    return 2.0 * CHAINS * (MatMul.vectorAvailable() ? Simd.lanes() : 1);
  }

  private static float scalarChains(int steps) {
    float[] a = new float[CHAINS];
    for (int c = 0; c < a.length; c++) {
      a[c] = c;
    }
    for (int s = 0; s < steps; s++) {
      for (int c = 0; c < a.length; c++) {
        a[c] = Math.fma(a[c], 0.999f, 0.001f);
      }
    }
    float sum = 0;
    for (float v : a) {
      sum += v;
    }
    return sum;
  }

  /** Kept apart so that no Vector API class loads where the module is absent. */
  private static final class Simd {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    static int lanes() {
      return F.length();
    }

    // x -> 0.999x + 0.001 converges to 1, so the chains stay finite however long they run; the
    // sixteen chains are CHAINS.
    static float chains(int steps) {
      FloatVector m = FloatVector.broadcast(F, 0.999f);
      FloatVector c = FloatVector.broadcast(F, 0.001f);
      FloatVector a0 = FloatVector.broadcast(F, 0f);
      FloatVector a1 = a0.add(1f);
      FloatVector a2 = a0.add(2f);
      FloatVector a3 = a0.add(3f);
      FloatVector a4 = a0.add(4f);
      FloatVector a5 = a0.add(5f);
      FloatVector a6 = a0.add(6f);
      FloatVector a7 = a0.add(7f);
      FloatVector b0 = a0.add(8f);
      FloatVector b1 = a0.add(9f);
      FloatVector b2 = a0.add(10f);
      FloatVector b3 = a0.add(11f);
      FloatVector b4 = a0.add(12f);
      FloatVector b5 = a0.add(13f);
      FloatVector b6 = a0.add(14f);
      FloatVector b7 = a0.add(15f);
      for (int s = 0; s < steps; s++) {
        a0 = a0.fma(m, c);
        a1 = a1.fma(m, c);
        a2 = a2.fma(m, c);
        a3 = a3.fma(m, c);
        a4 = a4.fma(m, c);
        a5 = a5.fma(m, c);
        a6 = a6.fma(m, c);
        a7 = a7.fma(m, c);
        b0 = b0.fma(m, c);
        b1 = b1.fma(m, c);
        b2 = b2.fma(m, c);
        b3 = b3.fma(m, c);
        b4 = b4.fma(m, c);
        b5 = b5.fma(m, c);
        b6 = b6.fma(m, c);
        b7 = b7.fma(m, c);
      }
      return a0.add(a1)
          .add(a2)
          .add(a3)
          .add(a4)
          .add(a5)
          .add(a6)
          .add(a7)
          .add(b0)
          .add(b1)
          .add(b2)
          .add(b3)
          .add(b4)
          .add(b5)
          .add(b6)
          .add(b7)
          .lane(0);
    }
  }
}
