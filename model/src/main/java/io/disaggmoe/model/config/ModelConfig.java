package io.disaggmoe.model.config;

/**
 * The architecture of a DeepSeek-V3-family checkpoint, as read from its {@code config.json}.
 *
 * <p>{@code qLoraRank} is 0 when the checkpoint has a direct {@code q_proj} (DeepSeek-V2-Lite);
 * {@code ropeScaling} and {@code quantization} are null when absent.
 */
public record ModelConfig(
    String modelType,
    int vocabSize,
    int hiddenSize,
    int intermediateSize,
    int moeIntermediateSize,
    int numHiddenLayers,
    int numAttentionHeads,
    int nSharedExperts,
    int nRoutedExperts,
    double routedScalingFactor,
    int kvLoraRank,
    int qLoraRank,
    int qkRopeHeadDim,
    int qkNopeHeadDim,
    int vHeadDim,
    TopkMethod topkMethod,
    int nGroup,
    int topkGroup,
    int numExpertsPerTok,
    int firstKDenseReplace,
    int moeLayerFreq,
    boolean normTopkProb,
    ScoringFunction scoringFunc,
    double ropeTheta,
    RopeScaling ropeScaling,
    int maxPositionEmbeddings,
    double rmsNormEps,
    boolean tieWordEmbeddings,
    int bosTokenId,
    int eosTokenId,
    int numNextnPredictLayers,
    QuantizationConfig quantization) {

  /** This config with {@code q} as its quantization (null: none). */
  public ModelConfig withQuantization(QuantizationConfig q) {
    return new ModelConfig(
        modelType,
        vocabSize,
        hiddenSize,
        intermediateSize,
        moeIntermediateSize,
        numHiddenLayers,
        numAttentionHeads,
        nSharedExperts,
        nRoutedExperts,
        routedScalingFactor,
        kvLoraRank,
        qLoraRank,
        qkRopeHeadDim,
        qkNopeHeadDim,
        vHeadDim,
        topkMethod,
        nGroup,
        topkGroup,
        numExpertsPerTok,
        firstKDenseReplace,
        moeLayerFreq,
        normTopkProb,
        scoringFunc,
        ropeTheta,
        ropeScaling,
        maxPositionEmbeddings,
        rmsNormEps,
        tieWordEmbeddings,
        bosTokenId,
        eosTokenId,
        numNextnPredictLayers,
        q);
  }

  /** Per-head query/key width: the non-rotary part plus the rotary part. */
  public int qkHeadDim() {
    return qkNopeHeadDim + qkRopeHeadDim;
  }

  /** Values cached per token per layer by MLA: {@code c_kv} plus the shared {@code k_pe}. */
  public int latentDim() {
    return kvLoraRank + qkRopeHeadDim;
  }

  public boolean hasQLora() {
    return qLoraRank > 0;
  }

  /** Whether decoder layer {@code layer} holds an MoE block rather than a dense MLP. */
  public boolean isMoeLayer(int layer) {
    return nRoutedExperts > 0 && layer >= firstKDenseReplace && layer % moeLayerFreq == 0;
  }

  /** YaRN applies only when the context was extended past the original training length. */
  public boolean yarnActive() {
    return ropeScaling != null
        && maxPositionEmbeddings > ropeScaling.originalMaxPositionEmbeddings();
  }

  /** Attention softmax scale: {@code qk_head_dim^-0.5}, times {@code mscale²} under YaRN. */
  public double softmaxScale() {
    double scale = 1.0 / Math.sqrt(qkHeadDim());
    if (yarnActive()) {
      double m = RopeScaling.yarnMscale(ropeScaling.factor(), ropeScaling.mscaleAllDim());
      scale *= m * m;
    }
    return scale;
  }

  /** Routed experts per group, for group-limited routing. */
  public int expertsPerGroup() {
    return nRoutedExperts / Math.max(nGroup, 1);
  }
}
