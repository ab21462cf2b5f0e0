package io.disaggmoe.cli;

/**
 * One full collection once a JVM has loaded its weights. Loading leaves the weights in old regions
 * beside the loader's dead copies, and G1's first mixed collections under load then moved them: in
 * an expert pool of the bench model, {@code bench serve} (48 requests, 8 at a time) met pauses of
 * 221 and 89 ms; after one full collection (85-97 ms, before serving) the longest pause of any
 * service under the same load was 31 and 38 ms in two runs. A decode benchmark met a 109 ms mixed
 * collection in its warm-up the same way.
 */
final class HeapCompaction {
  private HeapCompaction() {}

  static void afterLoading() {
    System.gc();
  }
}
