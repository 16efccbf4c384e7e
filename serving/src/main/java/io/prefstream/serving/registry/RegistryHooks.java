package io.prefstream.serving.registry;

/**
 * Test seams of the {@link PolicyRegistry}; production uses {@link #NONE}. Hooks run on the
 * registry's own threads with no lock held, so a hook may block to order events deterministically
 * (e.g. hold an automation decision until an operator's change has landed).
 */
public interface RegistryHooks {
  RegistryHooks NONE = new RegistryHooks() {};

  /**
   * Called after this replica decided to auto-promote {@code version} of {@code policyId} and
   * before it writes that proposal to the rollout feed.
   */
  default void beforeAutoPromotion(String policyId, long version) {}
}
