package io.prefstream.schemas.registry;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.Schema;
import org.apache.avro.SchemaParseException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client for the Confluent schema registry REST API (which Apicurio Registry also serves under
 * {@code /apis/ccompat/v7}), for Avro schemas. Confluent's own client is not on Maven Central, so this
 * is ours, on {@code java.net.http}. Schemas fetched by id and ids obtained by registering are cached
 * for the life of the client (a registered schema never changes). Failed requests are retried with
 * exponential backoff on I/O errors, timeouts, 429 and 5xx, never on other 4xx; every failure is a
 * {@link RegistryException} naming the URL, the status and the registry's own message. Thread-safe;
 * close it to release the HTTP client.
 */
public final class SchemaRegistryClient implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SchemaRegistryClient.class);
  private static final String CONTENT_TYPE = "application/vnd.schemaregistry.v1+json";
  private static final String ACCEPT = "application/vnd.schemaregistry.v1+json, application/json";
  private static final ObjectMapper JSON = new ObjectMapper();

  private final RegistryConfig config;
  private final HttpClient http;
  private final Map<Integer, Schema> schemasById = new ConcurrentHashMap<>();
  private final Map<String, Map<Schema, Integer>> idsBySubject = new ConcurrentHashMap<>();

  public SchemaRegistryClient(RegistryConfig config) {
    this.config = Objects.requireNonNull(config, "config");
    this.http = HttpClient.newBuilder()
        .connectTimeout(config.connectTimeout())
        // HTTP/1.1: registries behind proxies do not all take the h2c upgrade on a POST.
        .version(HttpClient.Version.HTTP_1_1)
        .followRedirects(HttpClient.Redirect.NORMAL)
        .build();
  }

  /** A client with default timeouts and retries for the registry at {@code baseUrl}. */
  public static SchemaRegistryClient create(String baseUrl) {
    return new SchemaRegistryClient(RegistryConfig.of(baseUrl));
  }

  public RegistryConfig config() {
    return config;
  }

  /** The schema with this global id ({@code GET /schemas/ids/{id}}), cached after the first fetch. */
  public Schema schemaById(int id) {
    Schema cached = schemasById.get(id);
    if (cached != null) return cached;
    String what = "fetching schema id " + id;
    URI url = url("/schemas/ids/" + id);
    JsonNode body = call("GET", url, null, what);
    Schema schema = parseSchema(body, url, what);
    schemasById.putIfAbsent(id, schema);
    return schema;
  }

  /**
   * Registers {@code schema} under {@code subject} ({@code POST /subjects/{subject}/versions}) and
   * returns its global id. Registering a schema that is already there returns the existing id.
   */
  public int register(String subject, Schema schema) {
    Objects.requireNonNull(schema, "schema");
    Map<Schema, Integer> ids = idsBySubject.computeIfAbsent(requireSubject(subject), s -> new ConcurrentHashMap<>());
    Integer cached = ids.get(schema);
    if (cached != null) return cached;
    String what = "registering a schema " + schema.getFullName() + " under subject " + subject;
    URI url = url("/subjects/" + encode(subject) + "/versions");
    JsonNode body = call("POST", url, schemaBody(schema), what);
    int id = intField(body, "id", url, what);
    ids.putIfAbsent(schema, id);
    schemasById.putIfAbsent(id, schema);
    return id;
  }

  /** The version numbers of a subject ({@code GET /subjects/{subject}/versions}). */
  public List<Integer> versions(String subject) {
    String what = "listing the versions of subject " + subject;
    URI url = url("/subjects/" + encode(requireSubject(subject)) + "/versions");
    JsonNode body = call("GET", url, null, what);
    if (!body.isArray()) throw malformed(url, what, "expected a JSON array of version numbers, got " + abbreviate(body));
    List<Integer> versions = new ArrayList<>();
    for (JsonNode v : body) {
      if (!v.canConvertToInt() || !v.isIntegralNumber()) {
        throw malformed(url, what, "expected integer versions, got " + abbreviate(body));
      }
      versions.add(v.intValue());
    }
    return List.copyOf(versions);
  }

  /** One version of a subject ({@code GET /subjects/{subject}/versions/{version}}). */
  public RegisteredSchema version(String subject, int version) {
    if (version < 1) throw new IllegalArgumentException("version must be >= 1, got " + version);
    return subjectVersion(subject, Integer.toString(version));
  }

  /** The newest version of a subject ({@code GET /subjects/{subject}/versions/latest}). */
  public RegisteredSchema latest(String subject) {
    return subjectVersion(subject, "latest");
  }

  /**
   * The version under which {@code schema} is registered in {@code subject} ({@code POST
   * /subjects/{subject}}), or empty when the subject or the schema under it does not exist.
   */
  public Optional<RegisteredSchema> lookup(String subject, Schema schema) {
    Objects.requireNonNull(schema, "schema");
    String what = "looking up a schema " + schema.getFullName() + " under subject " + subject;
    URI url = url("/subjects/" + encode(requireSubject(subject)));
    JsonNode body;
    try {
      body = call("POST", url, schemaBody(schema), what);
    } catch (RegistryException e) {
      if (e.isNotFound()) return Optional.empty();
      throw e;
    }
    RegisteredSchema found = registered(body, subject, url, what);
    schemasById.putIfAbsent(found.id(), found.schema());
    return Optional.of(found);
  }

  /** The subjects the registry knows ({@code GET /subjects}). */
  public List<String> subjects() {
    String what = "listing subjects";
    URI url = url("/subjects");
    JsonNode body = call("GET", url, null, what);
    if (!body.isArray()) throw malformed(url, what, "expected a JSON array of subject names, got " + abbreviate(body));
    List<String> subjects = new ArrayList<>();
    body.forEach(s -> subjects.add(s.asText()));
    return List.copyOf(subjects);
  }

  @Override
  public void close() {
    http.close();
  }

  private RegisteredSchema subjectVersion(String subject, String version) {
    String what = "fetching version " + version + " of subject " + subject;
    URI url = url("/subjects/" + encode(requireSubject(subject)) + "/versions/" + version);
    RegisteredSchema found = registered(call("GET", url, null, what), subject, url, what);
    schemasById.putIfAbsent(found.id(), found.schema());
    return found;
  }

  private RegisteredSchema registered(JsonNode body, String subject, URI url, String what) {
    int id = intField(body, "id", url, what);
    int version = intField(body, "version", url, what);
    String name = body.path("subject").isTextual() ? body.get("subject").asText() : subject;
    return new RegisteredSchema(name, version, id, parseSchema(body, url, what));
  }

  /** Sends one request, retrying what may succeed on a second try; returns the parsed 2xx body. */
  private JsonNode call(String method, URI url, ObjectNode body, String what) {
    HttpRequest.Builder builder = HttpRequest.newBuilder(url)
        .timeout(config.requestTimeout())
        .header("Accept", ACCEPT);
    if (body != null) {
      builder.header("Content-Type", CONTENT_TYPE)
          .method(method, HttpRequest.BodyPublishers.ofString(body.toString(), StandardCharsets.UTF_8));
    } else {
      builder.method(method, HttpRequest.BodyPublishers.noBody());
    }
    HttpRequest request = builder.build();
    Duration backoff = config.initialBackoff();
    for (int attempt = 1; ; attempt++) {
      String failure;
      try {
        HttpResponse<String> response = http.send(request, HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
        int status = response.statusCode();
        if (status / 100 == 2) return parseJson(response.body(), url, status, what);
        JsonNode error = tryParse(response.body());
        int errorCode = error != null && error.path("error_code").canConvertToInt() ? error.path("error_code").intValue() : -1;
        String message = error != null && error.hasNonNull("message") ? error.get("message").asText() : abbreviate(response.body());
        boolean retryable = status >= 500 || status == 429;
        if (!retryable || attempt >= config.maxAttempts()) {
          throw new RegistryException(what + " failed", url, status, errorCode, message, attempt, null);
        }
        failure = "HTTP " + status;
      } catch (IOException e) {
        if (attempt >= config.maxAttempts()) {
          throw new RegistryException(what + " failed", url, -1, -1, null, attempt, e);
        }
        failure = RegistryException.describe(e);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        throw new RegistryException(what + " was interrupted", url, -1, -1, null, attempt, e);
      }
      log.warn("schema registry: {} failed at {} ({}); attempt {} of {}, retrying in {} ms",
          what, url, failure, attempt, config.maxAttempts(), backoff.toMillis());
      sleep(backoff, url, what, attempt);
      backoff = backoff.multipliedBy(2);
      if (backoff.compareTo(config.maxBackoff()) > 0) backoff = config.maxBackoff();
    }
  }

  private static void sleep(Duration d, URI url, String what, int attempt) {
    try {
      Thread.sleep(d);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new RegistryException(what + " was interrupted while waiting to retry", url, -1, -1, null, attempt, e);
    }
  }

  private Schema parseSchema(JsonNode body, URI url, String what) {
    JsonNode type = body.get("schemaType");
    if (type != null && !type.isNull() && !"AVRO".equalsIgnoreCase(type.asText())) {
      throw malformed(url, what, "the schema is of type " + type.asText() + ", expected AVRO");
    }
    JsonNode text = body.get("schema");
    if (text == null || !text.isTextual()) {
      throw malformed(url, what, "expected a \"schema\" string in the answer, got " + abbreviate(body));
    }
    try {
      return new Schema.Parser().parse(text.asText());
    } catch (SchemaParseException e) {
      throw malformed(url, what, "the schema is not valid Avro: " + e.getMessage());
    }
  }

  private static ObjectNode schemaBody(Schema schema) {
    ObjectNode node = JSON.createObjectNode();
    node.put("schema", schema.toString());
    return node;
  }

  private static int intField(JsonNode body, String field, URI url, String what) {
    JsonNode v = body.get(field);
    if (v == null || !v.isIntegralNumber() || !v.canConvertToInt()) {
      throw malformed(url, what, "expected an integer \"" + field + "\" in the answer, got " + abbreviate(body));
    }
    return v.intValue();
  }

  private static JsonNode parseJson(String text, URI url, int status, String what) {
    JsonNode node = tryParse(text);
    if (node == null) {
      throw new RegistryException(what + " failed: the answer is not JSON", url, status, -1, abbreviate(text), 1, null);
    }
    return node;
  }

  private static JsonNode tryParse(String text) {
    if (text == null || text.isBlank()) return null;
    try {
      return JSON.readTree(text);
    } catch (JsonProcessingException e) {
      return null;
    }
  }

  private static RegistryException malformed(URI url, String what, String detail) {
    return new RegistryException(what + " failed: " + detail, url, 200, -1, null, 1, null);
  }

  private URI url(String path) {
    return URI.create(config.baseUrl() + path);
  }

  private static String requireSubject(String subject) {
    Objects.requireNonNull(subject, "subject");
    if (subject.isBlank()) throw new IllegalArgumentException("subject must not be blank");
    return subject;
  }

  private static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }

  private static String abbreviate(Object o) {
    String s = String.valueOf(o);
    return s.length() <= 300 ? s : s.substring(0, 300) + "…";
  }
}
