package io.disaggmoe.proto.wire;

/**
 * A growable byte array per thread. A fresh array of a few hundred kB per message is memory the
 * cache has never seen, zeroed and then written; one kept per thread stays warm. Whoever takes it
 * must be done with it before the same thread takes it again.
 *
 * <p>An array grown past {@link #KEEP} for one large message is not kept for the small ones after
 * it: a thread that once carried a huge message holds no more than it needs now.
 */
public final class ScratchBytes {
  /** Arrays up to this size are kept whatever is asked for next. */
  static final int KEEP = 16 << 20;

  private final ThreadLocal<byte[]> arrays = ThreadLocal.withInitial(() -> new byte[0]);

  /** This thread's array, at least {@code size} bytes long; its contents are undefined. */
  public byte[] take(int size) {
    byte[] a = arrays.get();
    if (a.length < size) {
      a = new byte[Math.max(size, a.length + (a.length >> 1))];
      arrays.set(a);
    } else if (a.length > KEEP && size <= a.length / 4) {
      a = new byte[Math.max(size, KEEP)];
      arrays.set(a);
    }
    return a;
  }
}
