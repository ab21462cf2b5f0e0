package io.disaggmoe.orchestration.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.disaggmoe.proto.v1.Instance;
import io.disaggmoe.proto.v1.Role;
import io.disaggmoe.proto.v1.Topology;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class RegistryTest {
  private final AtomicLong now = new AtomicLong(1_000);
  private final Registry registry = new Registry(5_000, now::get);

  private static Instance pool(String address) {
    return Instance.newBuilder()
        .setId("expert_pool/" + address)
        .setRole(Role.ROLE_EXPERT_POOL)
        .setAddress(address)
        .setModelId("m")
        .build();
  }

  @Test
  void anInstanceStaysWhileItsHeartbeatsComeAndGoesWhenTheyStop() {
    registry.register(pool("a:1"));
    registry.register(pool("b:1"));
    for (int i = 0; i < 10; i++) {
      now.addAndGet(1_000);
      assertThat(registry.heartbeat("expert_pool/a:1")).isTrue();
    }
    // b sent none for 10 s, past its 5 s lease.
    assertThat(registry.topology().getInstancesList()).containsExactly(pool("a:1"));
    assertThat(registry.heartbeat("expert_pool/b:1")).as("b's heartbeat after its lapse").isFalse();
  }

  @Test
  void watchersHearOfEveryChangeInVersionOrder() {
    List<Topology> seen = new ArrayList<>();
    registry.watch(seen::add);
    registry.register(pool("a:1"));
    registry.register(pool("a:1")); // the same again: no change
    registry.register(pool("b:1"));
    now.addAndGet(6_000);
    registry.expireNow();
    assertThat(seen).extracting(Topology::getVersion).containsExactly(0L, 1L, 2L, 3L);
    assertThat(seen.getLast().getInstancesCount()).isZero();
  }

  @Test
  void aRestartedPlaneLearnsTheTopologyAgainFromRegistrations() {
    registry.register(pool("a:1"));
    Registry restarted = new Registry(5_000, now::get);
    assertThat(restarted.heartbeat("expert_pool/a:1")).as("a heartbeat it does not know").isFalse();
    restarted.register(pool("a:1"));
    assertThat(restarted.topology().getInstancesList()).containsExactly(pool("a:1"));
  }

  @Test
  void aStoppingPlaneLetsNoLeaseLapseAndTellsNoWatcher() {
    registry.register(pool("a:1"));
    List<Topology> seen = new ArrayList<>();
    registry.watch(seen::add);
    registry.close();
    // Its listener is closed, so no heartbeat comes; the instance is up all the same.
    now.addAndGet(6_000);
    registry.expireNow();
    assertThat(seen).as("topologies the watcher heard").hasSize(1);
    assertThat(registry.topology().getInstancesList()).containsExactly(pool("a:1"));
  }

  @Test
  void anInstanceWithoutIdAddressOrRoleIsRefused() {
    assertThatThrownBy(() -> registry.register(Instance.newBuilder().setId("x").build()))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("id and an address");
    assertThatThrownBy(
            () -> registry.register(Instance.newBuilder().setId("x").setAddress("h:1").build()))
        .hasMessageContaining("no role");
  }
}
