package io.disaggmoe.model.layer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.disaggmoe.model.config.ModelConfig;
import io.disaggmoe.model.config.ModelConfigJson;
import io.disaggmoe.model.testing.GoldenCase;
import org.junit.jupiter.api.Test;

class RotaryEmbeddingTest {
  @Test
  void yarnKeepsFastFrequenciesAndDividesSlowOnesByTheFactor() throws Exception {
    ModelConfig c = ModelConfigJson.read(GoldenCase.named("v3-yarn").dir());
    float[] scaled = new RotaryEmbedding(c).frequencies();
    int dim = c.qkRopeHeadDim();
    // low = floor(d(32)) and high = ceil(d(1)) with d(r) = dim*ln(16/(r*2π))/(2 ln 10000).
    double d32 = dim * Math.log(16 / (32 * 2 * Math.PI)) / (2 * Math.log(10000));
    double d1 = dim * Math.log(16 / (2 * Math.PI)) / (2 * Math.log(10000));
    assertThat(Math.max(Math.floor(d32), 0)).isEqualTo(0.0);
    assertThat(Math.min(Math.ceil(d1), dim - 1)).isEqualTo(1.0);
    double base0 = 1.0;
    double base3 = Math.pow(10000, -6.0 / dim);
    assertThat(scaled[0]).isCloseTo((float) base0, within(1e-7f));
    assertThat(scaled[3]).isCloseTo((float) (base3 / 4), within(1e-7f));
  }
}
