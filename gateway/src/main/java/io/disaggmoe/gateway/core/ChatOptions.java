package io.disaggmoe.gateway.core;

import java.util.Map;

/**
 * How a chat's messages become its prompt, as vLLM's chat requests shape it: whether the template
 * opens the assistant's reply ({@code add_generation_prompt}), or leaves the final message open for
 * the model to continue ({@code continue_final_message}: a reply started for it), and extra
 * variables for the template ({@code chat_template_kwargs}, such as DeepSeek-V3.1's {@code
 * thinking}).
 */
public record ChatOptions(
    boolean addGenerationPrompt, boolean continueFinalMessage, Map<String, Object> templateKwargs) {
  public static final ChatOptions DEFAULT = new ChatOptions(true, false, Map.of());

  public ChatOptions {
    templateKwargs = Map.copyOf(templateKwargs);
  }

  /**
   * The options a request asked for; {@code addGenerationPrompt} null where it left it out, which
   * continuing the final message turns off (asking for both is a 400, as in vLLM).
   */
  public static ChatOptions of(
      Boolean addGenerationPrompt, boolean continueFinalMessage, Map<String, Object> kwargs) {
    if (continueFinalMessage && Boolean.TRUE.equals(addGenerationPrompt)) {
      throw ApiException.badRequest(
          "'continue_final_message' and 'add_generation_prompt' cannot both be true: the first"
              + " continues the final message, the second opens a new one",
          "continue_final_message");
    }
    return new ChatOptions(
        !continueFinalMessage && !Boolean.FALSE.equals(addGenerationPrompt),
        continueFinalMessage,
        kwargs);
  }
}
