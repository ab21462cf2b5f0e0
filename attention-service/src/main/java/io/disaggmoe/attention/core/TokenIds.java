package io.disaggmoe.attention.core;

/** Checks token ids before a request joins a batch, so one bad request never fails the others. */
public final class TokenIds {
  private TokenIds() {}

  public static void check(int[] ids, String field, int vocab) {
    for (int i = 0; i < ids.length; i++) {
      if (ids[i] < 0 || ids[i] >= vocab) {
        throw new IllegalArgumentException(
            field + "[" + i + "] = " + ids[i] + " is outside the vocabulary [0, " + vocab + ")");
      }
    }
  }
}
