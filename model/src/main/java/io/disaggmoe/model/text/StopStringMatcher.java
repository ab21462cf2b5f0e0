package io.disaggmoe.model.text;

import java.util.List;

/**
 * Finds stop strings in streamed text, even when one is split across tokens, and holds back only
 * the text that could still turn out to be the start of a stop string. The text ends before the
 * stop string, or after it where it is to be included (vLLM's {@code include_stop_str_in_output}).
 */
public final class StopStringMatcher {
  private final List<String> stops;
  private final boolean includeStop;
  private final StringBuilder held = new StringBuilder();
  private boolean stopped;

  public StopStringMatcher(List<String> stops) {
    this(stops, false);
  }

  public StopStringMatcher(List<String> stops, boolean includeStop) {
    for (String s : stops) {
      if (s.isEmpty()) {
        throw new IllegalArgumentException("stop strings must not be empty");
      }
    }
    this.stops = List.copyOf(stops);
    this.includeStop = includeStop;
  }

  /**
   * Adds text and returns what may be shown now; after a match, what precedes the stop string (and
   * the stop string, where it is included).
   */
  public String accept(String text) {
    if (stopped) {
      return "";
    }
    held.append(text);
    int match = earliestMatch();
    if (match >= 0) {
      stopped = true;
      String out = held.substring(0, includeStop ? match + matchedLength(match) : match);
      held.setLength(0);
      return out;
    }
    int keep = longestStopPrefixAtEnd();
    String out = held.substring(0, held.length() - keep);
    held.delete(0, held.length() - keep);
    return out;
  }

  /** Releases the held-back text once the stream ends without a match. */
  public String flush() {
    String out = held.toString();
    held.setLength(0);
    return out;
  }

  /** True once a stop string has been seen; everything after it is dropped. */
  public boolean stopped() {
    return stopped;
  }

  private int earliestMatch() {
    int best = -1;
    for (String s : stops) {
      int at = held.indexOf(s);
      if (at >= 0 && (best < 0 || at < best)) {
        best = at;
      }
    }
    return best;
  }

  /** The longest stop string found at {@code at}, as vLLM ends the text after the one it found. */
  private int matchedLength(int at) {
    int longest = 0;
    for (String s : stops) {
      if (s.length() > longest && held.indexOf(s, at) == at) {
        longest = s.length();
      }
    }
    return longest;
  }

  private int longestStopPrefixAtEnd() {
    int longest = 0;
    for (String s : stops) {
      for (int n = Math.min(s.length() - 1, held.length()); n > longest; n--) {
        if (held.substring(held.length() - n).equals(s.substring(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
