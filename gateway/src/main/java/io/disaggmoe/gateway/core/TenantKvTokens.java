package io.disaggmoe.gateway.core;

import java.util.function.LongConsumer;

/** The KV tokens one running choice holds, counted for its tenant until it ends (once). */
public final class TenantKvTokens {
  private final LongConsumer tenantTokens;
  private long held;
  private boolean released;

  public TenantKvTokens(GatewayMetrics metrics, String tenant) {
    this.tenantTokens = metrics.kvTokens(tenant);
  }

  public synchronized void add(int tokens) {
    if (!released) {
      held += tokens;
      tenantTokens.accept(tokens);
    }
  }

  /** The choice ended, however: its tokens no longer count. Later calls do nothing. */
  public synchronized void release() {
    if (!released) {
      released = true;
      tenantTokens.accept(-held);
    }
  }
}
