package io.prefstream.learner.trainer;

/**
 * One input batch as a checkpoint records it: where it was read ({@code topic-partition} and
 * offset; empty topic for offline data), its id, and what the step did with it (a
 * {@link StepOutcome.Status} name, or {@code OTHER_POLICY} / {@code UNDECODABLE} / {@code INVALID} for records the
 * learner read past). The checkpoint lists the batches consumed since its parent version, so the
 * lineage of a version tells exactly which batches changed its weights.
 */
public record AppliedBatch(String topicPartition, long offset, String batchId, String outcome) {}
