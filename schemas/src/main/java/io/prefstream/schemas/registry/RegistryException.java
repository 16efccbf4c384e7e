package io.prefstream.schemas.registry;

import java.net.URI;

/**
 * A schema registry request that failed: the URL, the HTTP status (or -1 when no answer came), the
 * registry's own error code and message when it sent one, and how many attempts were made. The
 * message carries all of them.
 */
public final class RegistryException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  /** Confluent's error code for an unknown subject. */
  public static final int SUBJECT_NOT_FOUND = 40401;
  /** Confluent's error code for an unknown version. */
  public static final int VERSION_NOT_FOUND = 40402;
  /** Confluent's error code for an unknown schema (by id, or not under a subject). */
  public static final int SCHEMA_NOT_FOUND = 40403;

  private final transient URI url;
  private final int status;
  private final int errorCode;
  private final String registryMessage;
  private final int attempts;

  RegistryException(String what, URI url, int status, int errorCode, String registryMessage, int attempts, Throwable cause) {
    super(what + " [" + url + (status >= 0 ? ", HTTP " + status : ", no response")
        + (errorCode >= 0 ? ", error_code " + errorCode : "")
        + (registryMessage != null && !registryMessage.isBlank() ? ", registry says: " + registryMessage : "")
        + (attempts > 1 ? ", after " + attempts + " attempts" : "") + "]"
        + (cause != null && status < 0 ? ": " + describe(cause) : ""),
        cause);
    this.url = url;
    this.status = status;
    this.errorCode = errorCode;
    this.registryMessage = registryMessage;
    this.attempts = attempts;
  }

  /** The exception's class and message, and its cause's when it has no message of its own (ConnectException). */
  static String describe(Throwable e) {
    String text = e.getClass().getSimpleName();
    if (e.getMessage() != null) return text + ": " + e.getMessage();
    return e.getCause() != null && e.getCause() != e ? text + " caused by " + describe(e.getCause()) : text;
  }

  public URI url() {
    return url;
  }

  /** The HTTP status, or -1 when the registry did not answer (connection refused, timeout). */
  public int status() {
    return status;
  }

  /** The registry's {@code error_code}, or -1 when it sent none. */
  public int errorCode() {
    return errorCode;
  }

  /** The registry's {@code message}, or null. */
  public String registryMessage() {
    return registryMessage;
  }

  public int attempts() {
    return attempts;
  }

  /** 404: the subject, version or schema does not exist. */
  public boolean isNotFound() {
    return status == 404;
  }

  /** No answer, or a server-side error that persisted through the retries. */
  public boolean isUnavailable() {
    return status < 0 || status >= 500 || status == 429;
  }
}
