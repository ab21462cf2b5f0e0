package io.disaggmoe.proto;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class BlockHashChainTest {
  private static int[] tokens(int n, int seed) {
    int[] t = new int[n];
    Arrays.setAll(t, i -> (i * 31 + seed) % 1000);
    return t;
  }

  @Test
  void onlyFullBlocksAreNamedAndASharedPrefixSharesItsNames() {
    int[] a = tokens(200, 1);
    int[] b = Arrays.copyOf(a, 150);
    b[140] = 999_999;
    List<byte[]> ha = BlockHashChain.hashes("m", "t", a, 64);
    List<byte[]> hb = BlockHashChain.hashes("m", "t", b, 64);
    assertThat(ha).hasSize(3);
    assertThat(hb).hasSize(2);
    assertThat(hb.get(0)).isEqualTo(ha.get(0));
    assertThat(hb.get(1)).isEqualTo(ha.get(1));
  }

  @Test
  void aBlockNameDependsOnEverythingBeforeIt() {
    int[] a = tokens(128, 1);
    int[] b = a.clone();
    b[3]++;
    assertThat(BlockHashChain.hashes("m", "t", b, 64).get(1))
        .as("second block, after a first block that differs")
        .isNotEqualTo(BlockHashChain.hashes("m", "t", a, 64).get(1));
  }

  @Test
  void tenantSaltAndModelSeparateNames() {
    int[] a = tokens(64, 1);
    byte[] base = BlockHashChain.hashes("m", "t", a, 64).get(0);
    assertThat(BlockHashChain.hashes("m", "u", a, 64).get(0)).isNotEqualTo(base);
    assertThat(BlockHashChain.hashes("m2", "t", a, 64).get(0)).isNotEqualTo(base);
    assertThat(BlockHashChain.hashes("mt", "", a, 64).get(0))
        .as("fields are length-prefixed")
        .isNotEqualTo(BlockHashChain.hashes("m", "t", a, 64).get(0));
  }

  @Test
  void extendingAChainFromItsLastHashGivesTheSameNames() {
    int[] a = tokens(200, 1);
    List<byte[]> whole = BlockHashChain.hashes("m", "t", a, 64);
    List<byte[]> tail = BlockHashChain.extend("m", "t", whole.get(0), a, 64, 200, 64);
    assertThat(tail).hasSize(2);
    assertThat(tail.get(0)).isEqualTo(whole.get(1));
    assertThat(tail.get(1)).isEqualTo(whole.get(2));
    assertThatThrownBy(() -> BlockHashChain.extend("m", "t", new byte[0], a, 64, 200, 64))
        .hasMessageContaining("from a block boundary with its parent hash");
    assertThatThrownBy(() -> BlockHashChain.extend("m", "t", whole.get(0), a, 30, 200, 64))
        .hasMessageContaining("from 30");
  }
}
