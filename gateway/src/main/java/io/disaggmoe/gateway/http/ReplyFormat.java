package io.disaggmoe.gateway.http;

import io.disaggmoe.gateway.core.ApiException;
import java.util.List;

/**
 * How the events of a request's choices become its reply: OpenAI's chat and completions chunks
 * ({@link ResponseAssembler}) or the Responses API's typed events ({@link ResponsesAssembler}).
 * Frames are whole server-sent events, ready to write.
 */
interface ReplyFormat {
  /** Where the listener of choice {@code index} records the instances that serve it. */
  WorkerIds workers(int index);

  /** Records the event; when streaming, the frames it makes (none for some). */
  List<String> accept(ChoiceEvent e);

  /** The frames that end a stream whose choices all ended well. */
  List<String> end();

  /** The frames that end a stream that failed after its first frame was sent. */
  List<String> error(ApiException e);

  /** The whole reply of a request that does not stream. */
  String response();

  int promptTokens();

  int completionTokens();

  /** The finish reason of every choice that has one, in choice order. */
  List<String> finishReasons();

  /** A server-sent event of {@code data} alone. */
  static String data(String data) {
    return "data: " + data + "\n\n";
  }
}
