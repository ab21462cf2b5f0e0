package io.disaggmoe.attention.client;

import io.disaggmoe.proto.v1.PeerStatus;
import java.util.ArrayList;
import java.util.List;

/**
 * The peers an attention instance calls (its expert pools and kv-cache-service) and whether each
 * can be reached now, for {@code GetStatus} and the instance's gRPC health.
 */
public final class Peers {
  private final GrpcExpertExecutor experts;
  private final GrpcKvCacheClient kv;

  /** Either may be null: experts in process, or no cache. */
  public Peers(GrpcExpertExecutor experts, GrpcKvCacheClient kv) {
    this.experts = experts;
    this.kv = kv;
  }

  public static Peers none() {
    return new Peers(null, null);
  }

  public List<PeerStatus> now() {
    List<PeerStatus> out = new ArrayList<>();
    if (experts != null) {
      for (PoolConnection p : experts.pools()) {
        out.add(status("expert-pool", p.target(), p.alive()));
      }
    }
    if (kv != null) {
      out.add(status("kv-cache", kv.target(), kv.reachable()));
    }
    return out;
  }

  /** The gRPC health service name under which a peer's reachability shows. */
  public static String healthName(PeerStatus p) {
    return "disaggmoe.peer/" + p.getRole() + "/" + p.getAddress();
  }

  private static PeerStatus status(String role, String address, boolean reachable) {
    return PeerStatus.newBuilder()
        .setRole(role)
        .setAddress(address)
        .setReachable(reachable)
        .build();
  }
}
