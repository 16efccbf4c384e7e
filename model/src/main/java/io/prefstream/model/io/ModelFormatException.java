package io.prefstream.model.io;

import java.io.IOException;

/**
 * A model or adapter directory this project cannot load as it is: an unsupported configuration
 * (the message names the field and what is supported), a missing or misshapen tensor, or a file
 * that is not what its name says.
 */
public class ModelFormatException extends IOException {
  public ModelFormatException(String message) {
    super(message);
  }

  public ModelFormatException(String message, Throwable cause) {
    super(message, cause);
  }
}
