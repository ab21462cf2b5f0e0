package io.disaggmoe.model.layer;

/** How MLA attends over the latent cache. */
public enum AttentionMode {
  /** Expand the cached {@code c_kv} into per-head keys and values, then attend. */
  NAIVE,
  /** Fold {@code W_UK} into the query and {@code W_UV} into the output; attend over the latent. */
  ABSORB
}
