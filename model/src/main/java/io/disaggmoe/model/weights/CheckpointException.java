package io.disaggmoe.model.weights;

import java.nio.file.Path;

/**
 * A checkpoint that cannot be used as it is: truncated or corrupt file, missing tensor, wrong shape
 * or dtype. The message names the file and the tensor, what was expected and what was found.
 */
public class CheckpointException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CheckpointException(String message) {
    super(message);
  }

  public CheckpointException(String message, Throwable cause) {
    super(message, cause);
  }

  static CheckpointException inFile(Path file, String message) {
    return new CheckpointException(file + ": " + message);
  }

  static CheckpointException forTensor(Path file, String tensor, String message) {
    return new CheckpointException(file + ": tensor '" + tensor + "': " + message);
  }
}
