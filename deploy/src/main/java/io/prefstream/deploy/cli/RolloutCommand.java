package io.prefstream.deploy.cli;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.MetadataUtils;
import io.prefstream.schemas.grpc.ListVersionsRequest;
import io.prefstream.schemas.grpc.PinReferenceRequest;
import io.prefstream.schemas.grpc.PromoteRequest;
import io.prefstream.schemas.grpc.RollbackRequest;
import io.prefstream.schemas.grpc.RolloutGrpc;
import io.prefstream.schemas.grpc.SetCanaryRequest;
import io.prefstream.schemas.grpc.SetModeRequest;
import io.prefstream.schemas.grpc.StatusRequest;
import io.prefstream.schemas.grpc.StatusResponse;
import io.prefstream.schemas.grpc.VersionInfo;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code prefstream rollout …}: the Rollout gRPC API from a terminal. Every subcommand calls one
 * RPC on a serving replica ({@code --target}) with the admin bearer token and prints the resulting
 * status; the replica writes the change to prefstream.rollout, where every replica picks it up.
 * Exit code 1 when the server refuses (the gRPC status and its message are printed).
 */
@Command(
    name = "rollout",
    mixinStandardHelpOptions = true,
    description = "Inspect and change what the serving replicas serve: status, versions, promote, rollback,"
        + " canary, pin-reference, mode.",
    subcommands = {RolloutCommand.Status.class, RolloutCommand.Versions.class, RolloutCommand.Promote.class,
      RolloutCommand.Rollback.class, RolloutCommand.Canary.class, RolloutCommand.PinRef.class, RolloutCommand.Mode.class})
public final class RolloutCommand implements Runnable {
  @Spec CommandSpec spec;

  @Override
  public void run() {
    throw new CommandLine.ParameterException(spec.commandLine(),
        "Missing subcommand: status, versions, promote, rollback, canary, pin-reference or mode.");
  }

  /** Where and how to reach the Rollout API; shared by every subcommand. */
  static final class Client {
    @Option(names = "--target", paramLabel = "HOST:PORT", defaultValue = "localhost:50051",
        description = "Serving replica to call. Default: ${DEFAULT-VALUE}.")
    String target;

    @Option(names = "--admin-token", paramLabel = "TOKEN", required = true,
        description = "Bearer token of the Rollout API (env PREFSTREAM_ADMIN_TOKEN, as for `serve`).")
    String adminToken;

    @Option(names = "--tls-ca", paramLabel = "PEM",
        description = "Trust this certificate (PEM) and speak TLS. Default: plaintext.")
    Path tlsCa;

    @Option(names = "--policy", paramLabel = "ID", defaultValue = "default", description = "Policy. Default: ${DEFAULT-VALUE}.")
    String policy;

    @Option(names = "--timeout", paramLabel = "SECONDS", defaultValue = "30",
        description = "Deadline of the call, including waiting for a replica that is still starting. Default: ${DEFAULT-VALUE}.")
    long timeoutSeconds;

    <T> T call(CommandSpec spec, Function<RolloutGrpc.RolloutBlockingStub, T> rpc) throws Exception {
      int colon = target.lastIndexOf(':');
      if (colon <= 0) throw new CommandLine.ParameterException(spec.commandLine(), "--target must be HOST:PORT, got " + target);
      NettyChannelBuilder b = NettyChannelBuilder.forAddress(target.substring(0, colon), Integer.parseInt(target.substring(colon + 1)));
      if (tlsCa != null) b.sslContext(GrpcSslContexts.forClient().trustManager(tlsCa.toFile()).build());
      else b.usePlaintext();
      ManagedChannel ch = b.build();
      try {
        Metadata m = new Metadata();
        m.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + adminToken);
        RolloutGrpc.RolloutBlockingStub stub = RolloutGrpc.newBlockingStub(ch)
            .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m))
            .withDeadlineAfter(timeoutSeconds, TimeUnit.SECONDS)
            // a replica that is still starting is waited for (within the deadline), not an instant failure
            .withWaitForReady();
        return rpc.apply(stub);
      } finally {
        ch.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  static void print(PrintWriter out, StatusResponse s) {
    out.println("policy            " + s.getPolicyId());
    out.println("mode              " + s.getMode());
    out.println("stable (desired)  " + (s.hasStableVersion() ? "v" + s.getStableVersion() : "base (v0)"));
    out.println("serving           v" + s.getServingVersion());
    out.println("canary            " + (s.hasCanaryVersion()
        ? "v" + s.getCanaryVersion() + " for " + s.getCanaryPercent() + "% of users"
            + (s.hasCanaryServingVersion() ? "" : " (loading)")
        : "none"));
    out.println("reference         " + s.getReferenceId() + (s.hasPinnedReference() ? " (pinned for the learner: "
        + s.getPinnedReference() + ")" : ""));
    out.println("in memory         " + s.getLoadedVersionsList());
    for (String r : s.getRefusedList()) out.println("refused           " + r);
    out.flush();
  }

  /** Base class: runs the RPC, prints, maps a refusal to exit code 1. */
  abstract static class Sub implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Client client;

    abstract StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub);

    @Override
    public Integer call() throws Exception {
      try {
        print(spec.commandLine().getOut(), client.call(spec, this::rpc));
        return 0;
      } catch (StatusRuntimeException e) {
        spec.commandLine().getErr().println("prefstream rollout " + spec.name() + ": " + Main.describeRpc(e.getStatus()));
        return 1;
      }
    }
  }

  @Command(name = "status", mixinStandardHelpOptions = true, description = "Desired and served versions of a policy.")
  static final class Status extends Sub {
    @Override
    StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub) {
      return stub.status(StatusRequest.newBuilder().setPolicyId(client.policy).build());
    }
  }

  @Command(name = "versions", mixinStandardHelpOptions = true, description = "Every version the replica knows, with its metrics.")
  static final class Versions implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin Client client;

    @Override
    public Integer call() throws Exception {
      try {
        var list = client.call(spec, s -> s.listVersions(ListVersionsRequest.newBuilder().setPolicyId(client.policy).build()));
        PrintWriter out = spec.commandLine().getOut();
        for (VersionInfo v : list.getVersionsList()) {
          Double acc = v.getMetricsMap().get("eval/rewards/accuracies");
          out.printf(Locale.ROOT, "v%-5d step %-7d eval acc %-6s %s  %s%n", v.getVersion(), v.getStep(),
              acc == null ? "-" : String.format(Locale.ROOT, "%.3f", acc), Instant.ofEpochMilli(v.getCreatedAtMs()),
              v.getLoadState());
        }
        out.flush();
        return 0;
      } catch (StatusRuntimeException e) {
        spec.commandLine().getErr().println("prefstream rollout versions: " + Main.describeRpc(e.getStatus()));
        return 1;
      }
    }
  }

  @Command(name = "promote", mixinStandardHelpOptions = true, description = "Make VERSION the stable version.")
  static final class Promote extends Sub {
    @Parameters(index = "0", paramLabel = "VERSION", description = "Version to promote (0 = the base weights).")
    long version;

    @Option(names = "--reason", paramLabel = "TEXT", description = "Why, recorded in the rollout state.")
    String reason = "";

    @Override
    StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub) {
      return stub.promote(PromoteRequest.newBuilder().setPolicyId(client.policy).setVersion(version).setReason(reason).build());
    }
  }

  @Command(name = "rollback", mixinStandardHelpOptions = true,
      description = "Go back to VERSION (any retained one) and switch to MANUAL so that AUTO does not promote past it.")
  static final class Rollback extends Sub {
    @Parameters(index = "0", paramLabel = "VERSION", description = "Version to serve again (0 = the base weights).")
    long version;

    @Option(names = "--reason", paramLabel = "TEXT", description = "Why, recorded in the rollout state.")
    String reason = "";

    @Override
    StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub) {
      return stub.rollback(RollbackRequest.newBuilder().setPolicyId(client.policy).setVersion(version).setReason(reason).build());
    }
  }

  @Command(name = "canary", mixinStandardHelpOptions = true,
      description = "Send PERCENT of users (by a stable hash of their user id) to VERSION; 0 ends the canary.")
  static final class Canary extends Sub {
    @Parameters(index = "0", paramLabel = "VERSION") long version;

    @Parameters(index = "1", paramLabel = "PERCENT") double percent;

    @Override
    StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub) {
      return stub.setCanary(SetCanaryRequest.newBuilder().setPolicyId(client.policy).setVersion(version).setPercent(percent).build());
    }
  }

  @Command(name = "pin-reference", mixinStandardHelpOptions = true,
      description = "Tell the learner (via prefstream.control) to pin VERSION as its reference; 'base' or none: the base weights.")
  static final class PinRef extends Sub {
    @Parameters(index = "0", arity = "0..1", paramLabel = "VERSION|base") String version;

    @Override
    StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub) {
      PinReferenceRequest.Builder b = PinReferenceRequest.newBuilder().setPolicyId(client.policy);
      if (version != null && !version.equalsIgnoreCase("base")) {
        try {
          b.setVersion(Long.parseLong(version.startsWith("v") ? version.substring(1) : version));
        } catch (NumberFormatException e) {
          throw new CommandLine.ParameterException(spec.commandLine(), "VERSION must be a number, vN or 'base', got " + version);
        }
      }
      return stub.pinReference(b.build());
    }
  }

  @Command(name = "mode", mixinStandardHelpOptions = true, description = "AUTO (promote updates that pass the gate) or MANUAL.")
  static final class Mode extends Sub {
    @Parameters(index = "0", paramLabel = "AUTO|MANUAL") String mode;

    @Override
    StatusResponse rpc(RolloutGrpc.RolloutBlockingStub stub) {
      return stub.setMode(SetModeRequest.newBuilder().setPolicyId(client.policy).setMode(mode).build());
    }
  }
}
