package io.disaggmoe.model.sampling;

/** Why a request stopped generating, named as the OpenAI API names it. */
public enum FinishReason {
  /** EOS, a stop token id or a stop string. */
  STOP("stop"),
  /** max_tokens reached. */
  LENGTH("length");

  private final String apiName;

  FinishReason(String apiName) {
    this.apiName = apiName;
  }

  public String apiName() {
    return apiName;
  }
}
