package io.disaggmoe.cli;

import com.sun.management.HotSpotDiagnosticMXBean;
import java.lang.management.ManagementFactory;

/**
 * The heap of a JVM that has loaded its weights and is about to serve: one full collection, then
 * the free ratios it serves with.
 *
 * <p>The collection: loading leaves the weights in old regions beside the loader's dead copies, and
 * G1's first mixed collections under load then moved them: in an expert pool of the bench model,
 * {@code bench serve} (48 requests, 8 at a time) met pauses of 221 and 89 ms; after one full
 * collection (85-97 ms, before serving) the longest pause of any service under the same load was 31
 * and 38 ms in two runs. A decode benchmark met a 109 ms mixed collection in its warm-up the same
 * way.
 *
 * <p>The ratios: at least 70% of the heap free after a marking cycle (at most 90%). The weights and
 * a long context's cache are live for good, and with G1's 40% the heap stayed at 1.7 times them, so
 * marking ran back to back (28-56 cycles in a run) and batch 8 at context 4096 took 82-85 ms a step
 * (medians) against 60-67. They are set here, not in {@code jvm.options}, because during the start
 * they only cost: the attention processes of {@code up --processes} on the tiny model grew their
 * heaps to 0.7-1.1 GB for 0.1 GB live (the start's young garbage, much of it Vector API kernels
 * running before the JIT compiles them), memory the kernel must clear on first touch (34% of the
 * start's CPU samples). Alternated without class-data archives, four rounds (two with no ratios at
 * all, two with this class): ready in 50.7, 51.3, 57.2 and 49.5 s against 57.2, 65.4, 56.1 and 56.4
 * with the ratios on the command line; 20, 22, 26 and 19 s of system CPU against 31, 30, 26 and 31;
 * 2.49-2.57 against 3.25-3.58 GB of anonymous memory.
 */
final class ServingHeap {
  static final int MIN_FREE_PERCENT = 70;
  static final int MAX_FREE_PERCENT = 90;

  private ServingHeap() {}

  static void afterLoading() {
    // Before the ratios: the collection leaves the heap at the JVM's default size for what is live
    // (3.0 against 2.5 GB of memory touched by the services of up --processes when it came after);
    // the first marking cycle under load grows it to the ratios (one cycle in a context-4096 run).
    System.gc();
    HotSpotDiagnosticMXBean vm = ManagementFactory.getPlatformMXBean(HotSpotDiagnosticMXBean.class);
    // The maximum first: the minimum may never exceed it.
    vm.setVMOption("MaxHeapFreeRatio", String.valueOf(MAX_FREE_PERCENT));
    vm.setVMOption("MinHeapFreeRatio", String.valueOf(MIN_FREE_PERCENT));
  }
}
