package io.prefstream.deploy.cli;

/** Entry point of the {@code prefstream} command. */
public final class Main {
  private Main() {}

  public static void main(String[] args) {
    System.out.println("prefstream: under construction");
  }
}
