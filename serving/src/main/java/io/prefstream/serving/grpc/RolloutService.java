package io.prefstream.serving.grpc;

import io.grpc.stub.StreamObserver;
import io.prefstream.schemas.avro.RolloutMode;
import io.prefstream.schemas.grpc.ListVersionsRequest;
import io.prefstream.schemas.grpc.ListVersionsResponse;
import io.prefstream.schemas.grpc.PinReferenceRequest;
import io.prefstream.schemas.grpc.PromoteRequest;
import io.prefstream.schemas.grpc.RollbackRequest;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.SetCanaryRequest;
import io.prefstream.schemas.grpc.SetModeRequest;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.grpc.StatusResponse;
import io.prefstream.schemas.grpc.VersionInfo;
import io.prefstream.schemas.avro.PolicyUpdate;
import io.prefstream.serving.metrics.ServingMetrics;
import io.prefstream.serving.registry.PolicyRegistry;
import io.prefstream.serving.registry.RolloutView;
import io.prefstream.serving.registry.VersionView;
import java.util.Locale;
import java.util.Optional;

/**
 * The operators' Rollout API (behind {@link BearerTokenInterceptor}). Changes are written to the
 * rollout feed by the {@link PolicyRegistry}; the answer is this replica's status once it has seen
 * the new desired state (the swap itself follows when the version is loaded).
 */
public final class RolloutService extends RolloutGrpc.RolloutImplBase {
  static final String ISSUER = "rollout-api";
  private final PolicyRegistry registry;
  private final RequestValidation validation;
  private final Rpc rpc;

  RolloutService(PolicyRegistry registry, RequestValidation validation, ServingMetrics metrics) {
    this.registry = registry;
    this.validation = validation;
    this.rpc = new Rpc(metrics);
  }

  static StatusResponse toProto(RolloutView v) {
    StatusResponse.Builder b = StatusResponse.newBuilder().setPolicyId(v.policyId()).setMode(v.mode())
        .setCanaryPercent(v.canaryPercent()).setServingVersion(v.servingVersion()).addAllRefused(v.refused())
        .addAllLoadedVersions(v.residentVersions()).setReferenceId(v.referenceId());
    v.stableVersion().ifPresent(b::setStableVersion);
    v.canaryVersion().ifPresent(b::setCanaryVersion);
    v.pinnedReference().ifPresent(b::setPinnedReference);
    v.canaryServingVersion().ifPresent(b::setCanaryServingVersion);
    return b.build();
  }

  static VersionInfo toProto(VersionView v) {
    PolicyUpdate u = v.update();
    VersionInfo.Builder b = VersionInfo.newBuilder().setVersion(u.getVersion()).setReferenceId(u.getReferenceId())
        .setCheckpointUri(u.getCheckpointUri()).setSha256(u.getSha256()).setStep(u.getStep())
        .setExamplesSeen(u.getExamplesSeen()).putAllMetrics(u.getMetrics()).setLoadState(v.loadState());
    if (u.getParentVersion() != null) b.setParentVersion(u.getParentVersion());
    if (u.getCreatedAt() != null) b.setCreatedAtMs(u.getCreatedAt().toEpochMilli());
    return b.build();
  }

  private static long version(long v) {
    if (v < 0) throw Rpc.invalid("version", "must be >= 0 (0 = the base weights), got " + v);
    return v;
  }

  @Override
  public void listVersions(ListVersionsRequest req, StreamObserver<ListVersionsResponse> obs) {
    rpc.run("ListVersions", obs, () -> {
      ListVersionsResponse.Builder b = ListVersionsResponse.newBuilder();
      for (VersionView v : registry.versions(validation.policyId(req.getPolicyId()))) b.addVersions(toProto(v));
      obs.onNext(b.build());
      obs.onCompleted();
    });
  }

  @Override
  public void status(StatusRequest req, StreamObserver<StatusResponse> obs) {
    rpc.run("Status", obs, () -> {
      obs.onNext(toProto(registry.status(validation.policyId(req.getPolicyId()))));
      obs.onCompleted();
    });
  }

  @Override
  public void promote(PromoteRequest req, StreamObserver<StatusResponse> obs) {
    rpc.run("Promote", obs, () -> {
      RolloutView v = registry.promote(validation.policyId(req.getPolicyId()), version(req.getVersion()), req.getReason(), ISSUER);
      obs.onNext(toProto(v));
      obs.onCompleted();
    });
  }

  @Override
  public void rollback(RollbackRequest req, StreamObserver<StatusResponse> obs) {
    rpc.run("Rollback", obs, () -> {
      RolloutView v = registry.rollback(validation.policyId(req.getPolicyId()), version(req.getVersion()), req.getReason(), ISSUER);
      obs.onNext(toProto(v));
      obs.onCompleted();
    });
  }

  @Override
  public void setCanary(SetCanaryRequest req, StreamObserver<StatusResponse> obs) {
    rpc.run("SetCanary", obs, () -> {
      if (!(req.getPercent() >= 0 && req.getPercent() <= 100)) {
        throw Rpc.invalid("percent", "must be in [0, 100] (0 ends the canary), got " + req.getPercent());
      }
      RolloutView v = registry.setCanary(validation.policyId(req.getPolicyId()), version(req.getVersion()), req.getPercent(),
          ISSUER);
      obs.onNext(toProto(v));
      obs.onCompleted();
    });
  }

  @Override
  public void pinReference(PinReferenceRequest req, StreamObserver<StatusResponse> obs) {
    rpc.run("PinReference", obs, () -> {
      Optional<Long> v = req.hasVersion() ? Optional.of(version(req.getVersion())) : Optional.empty();
      obs.onNext(toProto(registry.pinReference(validation.policyId(req.getPolicyId()), v, ISSUER)));
      obs.onCompleted();
    });
  }

  @Override
  public void setMode(SetModeRequest req, StreamObserver<StatusResponse> obs) {
    rpc.run("SetMode", obs, () -> {
      RolloutMode mode;
      try {
        mode = RolloutMode.valueOf(req.getMode().trim().toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        throw Rpc.invalid("mode", "expected AUTO or MANUAL, got '" + RequestValidation.abbreviate(req.getMode()) + "'");
      }
      obs.onNext(toProto(registry.setMode(validation.policyId(req.getPolicyId()), mode, ISSUER)));
      obs.onCompleted();
    });
  }
}
