package io.disaggmoe.kvcache.core;

import java.io.IOException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The disk tier's one writer: takes every write queued since its last group, writes and forces each
 * file, syncs the directory once, and only then tells the store (which lets go of spilled memory
 * copies and acknowledges durable puts). Group commit: one directory sync covers every block that
 * arrived while the previous group was being written.
 */
final class SpillWriter implements Runnable {
  private record Job(
      KvBlockStore.Entry entry, StoredBlock block, long generation, CompletableFuture<Void> done) {}

  private final KvBlockStore store;
  private final DiskTier disk;
  private final ArrayDeque<Job> queue = new ArrayDeque<>();
  private final Thread thread;
  private boolean closing;
  private long enqueued;
  private long finished;

  SpillWriter(KvBlockStore store, DiskTier disk) {
    this.store = store;
    this.disk = disk;
    this.thread = new Thread(this, "kv-disk-writer");
    thread.setDaemon(true);
  }

  void start() {
    thread.start();
  }

  boolean isRunning() {
    return thread.isAlive();
  }

  /** Queues a write of {@code block}; called under the store's lock. */
  synchronized CompletableFuture<Void> enqueue(KvBlockStore.Entry e, StoredBlock block) {
    Job job = new Job(e, block, store.newGeneration(), new CompletableFuture<>());
    queue.add(job);
    enqueued++;
    notifyAll();
    return job.done();
  }

  /** Waits until every write queued before this call is done. */
  synchronized void flush() {
    long target = enqueued;
    while (finished < target && thread.isAlive()) {
      try {
        wait(100);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /** Finishes what is queued, then stops. */
  void close() {
    synchronized (this) {
      closing = true;
      notifyAll();
    }
    try {
      thread.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void run() {
    while (true) {
      List<Job> group;
      synchronized (this) {
        while (queue.isEmpty() && !closing) {
          try {
            wait();
          } catch (InterruptedException e) {
            return;
          }
        }
        if (queue.isEmpty()) {
          return;
        }
        group = new ArrayList<>(queue);
        queue.clear();
      }
      commit(group);
      synchronized (this) {
        finished += group.size();
        notifyAll();
      }
    }
  }

  private void commit(List<Job> group) {
    long[] sizes = new long[group.size()];
    IOException[] failures = new IOException[group.size()];
    for (int i = 0; i < group.size(); i++) {
      Job job = group.get(i);
      boolean current;
      synchronized (store) {
        current = store.isCurrent(job.entry());
      }
      if (!current) {
        // Replaced or deleted while queued: nothing to keep.
        sizes[i] = -1;
        continue;
      }
      try {
        sizes[i] = disk.write(job.entry().name, job.generation(), job.block());
      } catch (IOException e) {
        failures[i] = e;
      }
    }
    IOException syncFailure = null;
    try {
      disk.syncDirectory();
    } catch (IOException e) {
      syncFailure = e;
    }
    synchronized (store) {
      for (int i = 0; i < group.size(); i++) {
        Job job = group.get(i);
        if (sizes[i] < 0) {
          continue;
        }
        if (failures[i] == null && syncFailure == null) {
          store.written(job.entry(), job.generation(), sizes[i]);
        } else {
          disk.delete(job.entry().name, job.generation());
          store.writeFailed(job.entry());
        }
      }
    }
    for (int i = 0; i < group.size(); i++) {
      IOException failure = failures[i] != null ? failures[i] : syncFailure;
      if (failure == null) {
        group.get(i).done().complete(null);
      } else {
        group.get(i).done().completeExceptionally(failure);
      }
    }
  }
}
