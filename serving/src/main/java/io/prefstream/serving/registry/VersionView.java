package io.prefstream.serving.registry;

import io.prefstream.schemas.avro.PolicyUpdate;

/**
 * A version this replica knows of from the updates feed and what became of it here: "available"
 * (on disk, not loaded), "loading", "loaded", "serving", "held: …" (the auto gate said no),
 * "skipped: …" (a newer update superseded it before it loaded) or "refused: …".
 */
public record VersionView(PolicyUpdate update, String loadState) {}
