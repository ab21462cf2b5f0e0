package io.disaggmoe.gateway.core;

import io.disaggmoe.proto.v1.DecodeResponse;

/** Receives one decode stream: responses, then exactly one of completed or error. */
public interface DecodeObserver {
  void onResponse(DecodeResponse response);

  void onCompleted();

  void onError(StageException e);
}
