package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;

/**
 * A version this replica knows of from the updates feed and what became of it here: "available"
 * (on disk, not loaded), "loading", "retrying (…): …" (a transient read error, retried with backoff),
 * "loaded", "serving", "held: …" (the auto gate said no; kept after the version leaves memory),
 * "skipped: …" (a newer update superseded it before it loaded), "unavailable: …" (still unreadable
 * after every retry; a desired state naming it tries again) or "refused: …" (an integrity failure).
 */
public record VersionView(PolicyUpdate update, String loadState) {}
