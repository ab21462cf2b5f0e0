package io.disaggmoe.proto.wire;

/**
 * A growable byte array per thread. A fresh array of a few hundred kB per message is memory the
 * cache has never seen, zeroed and then written; one kept per thread stays warm. Whoever takes it
 * must be done with it before the same thread takes it again.
 */
public final class ScratchBytes {
  private final ThreadLocal<byte[]> arrays = ThreadLocal.withInitial(() -> new byte[0]);

  /** This thread's array, at least {@code size} bytes long; its contents are undefined. */
  public byte[] take(int size) {
    byte[] a = arrays.get();
    if (a.length < size) {
      a = new byte[Math.max(size, a.length + (a.length >> 1))];
      arrays.set(a);
    }
    return a;
  }
}
