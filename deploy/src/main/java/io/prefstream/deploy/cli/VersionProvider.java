package io.prefstream.deploy.cli;

import picocli.CommandLine.IVersionProvider;

/**
 * {@code prefstream --version}: the version the jar's manifest records at build time, and the Java
 * runtime, which matters because the Vector API and FFM need a JDK 25 or newer.
 */
public final class VersionProvider implements IVersionProvider {
  @Override
  public String[] getVersion() {
    String version = Main.class.getPackage().getImplementationVersion();
    return new String[] {
      "prefstream " + (version != null ? version : "(development build, run from classes)"),
      "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")"
    };
  }
}
