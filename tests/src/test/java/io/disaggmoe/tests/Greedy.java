package io.disaggmoe.tests;

import com.openai.core.JsonValue;
import com.openai.models.completions.CompletionCreateParams;

/** Requests whose text is fixed by the model: greedy, and never cut short by an end token. */
final class Greedy {
  private Greedy() {}

  static CompletionCreateParams completion(String prompt, int tokens) {
    return CompletionCreateParams.builder()
        .model("tiny")
        .prompt(prompt)
        .maxTokens(tokens)
        .temperature(0.0)
        .putAdditionalBodyProperty("ignore_eos", JsonValue.from(true))
        .build();
  }
}
