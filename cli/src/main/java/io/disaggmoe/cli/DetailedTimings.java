package io.disaggmoe.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * Every request of a {@code bench serve} run, as vLLM's {@code --save-detailed} keeps them: per
 * request its {@code start_times} (Unix time, seconds), {@code ttfts}, {@code itls} (the gaps
 * between its chunks), {@code e2els} (seconds), {@code output_lens} and {@code errors} ("" when it
 * completed). Unix time, not a process's monotonic clock, so that another process (the chaos suite)
 * can place each request against the moment of its fault.
 */
final class DetailedTimings {
  private DetailedTimings() {}

  /**
   * Nanoseconds to add to this process's {@link System#nanoTime} to get Unix time. The wall clock
   * is read between two {@code nanoTime} readings, and the tightest of a few such brackets is kept:
   * a thread descheduled between the two clocks' readings (66 us once on a loaded 2-core machine)
   * would otherwise shift every time the offset converts.
   */
  static long epochOffsetNanos() {
    long bestGap = Long.MAX_VALUE;
    long offset = 0;
    for (int i = 0; i < 8; i++) {
      long before = System.nanoTime();
      Instant now = Instant.now();
      long after = System.nanoTime();
      if (after - before < bestGap) {
        bestGap = after - before;
        offset =
            now.getEpochSecond() * 1_000_000_000L + now.getNano() - (before + (after - before) / 2);
      }
    }
    return offset;
  }

  /** {@code summary}'s entries followed by the per-request lists of {@code timings}. */
  static void write(Path file, Map<String, Object> summary, List<RequestTiming> timings)
      throws IOException {
    long offset = epochOffsetNanos();
    List<Double> starts = new ArrayList<>();
    List<Double> ttfts = new ArrayList<>();
    List<List<Double>> itls = new ArrayList<>();
    List<Double> e2els = new ArrayList<>();
    List<Integer> lens = new ArrayList<>();
    List<String> errors = new ArrayList<>();
    for (RequestTiming t : timings) {
      starts.add((t.sentNanos() + offset) / 1e9);
      long[] chunks = t.chunkNanos();
      ttfts.add(chunks.length == 0 ? 0.0 : (chunks[0] - t.sentNanos()) / 1e9);
      List<Double> gaps = new ArrayList<>();
      for (int i = 1; i < chunks.length; i++) {
        gaps.add((chunks[i] - chunks[i - 1]) / 1e9);
      }
      itls.add(gaps);
      e2els.add((t.endNanos() - t.sentNanos()) / 1e9);
      lens.add(t.outputTokens());
      errors.add(t.error() == null ? "" : t.error());
    }
    Map<String, Object> out = new LinkedHashMap<>(summary);
    out.put("start_times", starts);
    out.put("ttfts", ttfts);
    out.put("itls", itls);
    out.put("e2els", e2els);
    out.put("output_lens", lens);
    out.put("errors", errors);
    JsonMapper.shared().writeValue(file.toFile(), out);
  }

  /** The requests of a file {@link #write} wrote, on this process's {@link System#nanoTime}. */
  static List<RequestTiming> read(Path file) throws IOException {
    JsonNode root = JsonMapper.shared().readTree(file.toFile());
    long offset = epochOffsetNanos();
    JsonNode starts = required(root, "start_times", file);
    JsonNode e2els = required(root, "e2els", file);
    JsonNode errors = required(root, "errors", file);
    JsonNode itls = required(root, "itls", file);
    JsonNode ttfts = required(root, "ttfts", file);
    JsonNode lens = required(root, "output_lens", file);
    List<RequestTiming> out = new ArrayList<>();
    for (int r = 0; r < starts.size(); r++) {
      long sent = Math.round(starts.get(r).asDouble() * 1e9) - offset;
      long end = sent + nanos(e2els.get(r));
      String error = errors.get(r).asString();
      if (!error.isEmpty()) {
        out.add(new RequestTiming(sent, new long[0], end, 0, error));
        continue;
      }
      JsonNode gaps = itls.get(r);
      long[] chunks = new long[gaps.size() + 1];
      chunks[0] = sent + nanos(ttfts.get(r));
      for (int i = 1; i < chunks.length; i++) {
        chunks[i] = chunks[i - 1] + nanos(gaps.get(i - 1));
      }
      int tokens = lens.get(r).asInt();
      out.add(new RequestTiming(sent, chunks, end, tokens, null));
    }
    return out;
  }

  private static long nanos(JsonNode seconds) {
    return Math.round(seconds.asDouble() * 1e9);
  }

  private static JsonNode required(JsonNode root, String key, Path file) {
    JsonNode v = root.get(key);
    if (v == null || !v.isArray()) {
      throw new IllegalArgumentException(file + " has no \"" + key + "\" list of requests");
    }
    return v;
  }
}
