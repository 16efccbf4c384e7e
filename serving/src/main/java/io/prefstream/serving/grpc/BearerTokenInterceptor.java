package io.prefstream.serving.grpc;

import io.grpc.Metadata;
import io.grpc.ServerCall;
import io.grpc.ServerCallHandler;
import io.grpc.ServerInterceptor;
import io.grpc.Status;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Optional;

/**
 * Requires {@code authorization: Bearer <token>} on every call of the service it wraps (the Rollout
 * admin API). The comparison is constant-time. Without a configured token every call is refused,
 * so an operator cannot expose the admin API by forgetting to set one.
 */
public final class BearerTokenInterceptor implements ServerInterceptor {
  static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  private final Optional<byte[]> token;

  public BearerTokenInterceptor(Optional<String> token) {
    this.token = token.map(t -> t.getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public <Q, R> ServerCall.Listener<Q> interceptCall(ServerCall<Q, R> call, Metadata headers, ServerCallHandler<Q, R> next) {
    if (token.isEmpty()) {
      call.close(Status.UNAUTHENTICATED.withDescription("the Rollout API is disabled: the server has no admin token"
          + " configured (--admin-token)"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    String h = headers.get(AUTHORIZATION);
    if (h == null || !h.regionMatches(true, 0, "Bearer ", 0, 7)) {
      call.close(Status.UNAUTHENTICATED.withDescription("missing 'authorization: Bearer <token>' header"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    byte[] given = h.substring(7).trim().getBytes(StandardCharsets.UTF_8);
    if (!MessageDigest.isEqual(given, token.get())) {
      call.close(Status.UNAUTHENTICATED.withDescription("invalid bearer token"), new Metadata());
      return new ServerCall.Listener<>() {};
    }
    return next.startCall(call, headers);
  }
}
