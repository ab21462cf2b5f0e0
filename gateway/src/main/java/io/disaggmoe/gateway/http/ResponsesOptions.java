package io.disaggmoe.gateway.http;

import tools.jackson.databind.JsonNode;

/**
 * What a Responses API request asked for that its reply repeats: its instructions, its {@code
 * max_output_tokens} as given (null when left out), its metadata and its user.
 */
record ResponsesOptions(
    String instructions, Integer maxOutputTokens, JsonNode metadata, String user) {}
