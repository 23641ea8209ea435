package dev.fathom.model.generate;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * A JSON Schema compiled for generation: the subset that structured-output APIs promise (OpenAI's
 * strict mode): {@code type} (one or a list), {@code properties}, {@code required},
 * {@code additionalProperties}, {@code items}, {@code minItems}, {@code maxItems}, {@code enum},
 * {@code const}, {@code anyOf}, and {@code $ref} into {@code $defs} or {@code definitions} (so
 * recursive schemas work). Annotations ({@code title}, {@code description}, {@code default}, ...)
 * are ignored; a keyword that would constrain the document in a way generation cannot enforce
 * ({@code pattern}, {@code minimum}, {@code format}, ...) is refused with a message naming it,
 * since a document that ignored it might not validate.
 *
 * <p>Generation writes an object's properties in the schema's order and no others, leaving out
 * only optional ones: an order is a choice JSON leaves to the writer, and fixing it keeps each
 * step's choices few and the grammar deterministic. Enum and const values are scalars, written
 * in their compact JSON form.
 */
public final class JsonSchema {
    /** What kind of value a schema node allows. */
    enum Kind { ANY, OBJECT, ARRAY, STRING, NUMBER, INTEGER, BOOLEAN, NULL, ENUM, ANY_OF }

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ANNOTATIONS = Set.of("title", "description", "default", "examples", "$schema",
            "$id", "$comment", "$defs", "definitions", "deprecated", "readOnly", "writeOnly", "strict");
    private static final int UNREACHABLE = Integer.MAX_VALUE / 4;

    /** Any JSON value. */
    static final JsonSchema ANY = new JsonSchema(Kind.ANY);

    static {
        ANY.minBytes = 1;
    }

    Kind kind;
    /** OBJECT: the properties in order, their keys as written between the quotes, their schemas, which are required. */
    String[] names = new String[0];
    byte[][] keys = new byte[0][];
    JsonSchema[] values = new JsonSchema[0];
    boolean[] required = new boolean[0];
    /** OBJECT without properties: the schema of every member's value; null: no members. */
    JsonSchema additional;
    /** ARRAY. */
    JsonSchema items;
    int minItems;
    int maxItems = Integer.MAX_VALUE;
    /** ENUM: each allowed value as written. */
    byte[][] literals;
    /** ANY_OF. */
    JsonSchema[] options;
    /** The fewest bytes of a value this node allows. */
    int minBytes = UNREACHABLE;

    private JsonSchema(Kind kind) {
        this.kind = kind;
    }

    /**
     * Compiles {@code schema}; throws IllegalArgumentException naming the place (a JSON pointer)
     * and the keyword it cannot enforce.
     */
    public static JsonSchema compile(JsonNode schema) {
        Compiler compiler = new Compiler(schema);
        JsonSchema root = compiler.node(schema, "#");
        compiler.resolveReferences();
        computeMinBytes(compiler.all);
        if (root.minBytes >= UNREACHABLE) {
            throw new IllegalArgumentException("the schema allows no finite document (a required property refers back to its own object)");
        }
        return root;
    }

    /** Compiles a schema given as JSON text. */
    public static JsonSchema compile(String schema) {
        return compile(JSON.readTree(schema));
    }

    /** A property's key as written between the quotes. */
    private static byte[] keyBytes(String name) {
        String quoted = JSON.writeValueAsString(name);
        return quoted.substring(1, quoted.length() - 1).getBytes(StandardCharsets.UTF_8);
    }

    /** The fewest bytes of each node, as a fixed point: references may make the graph cyclic. */
    private static void computeMinBytes(List<JsonSchema> all) {
        for (boolean changed = true; changed; ) {
            changed = false;
            for (JsonSchema s : all) {
                int min = Math.min(UNREACHABLE, s.ownMinBytes());
                if (min < s.minBytes) {
                    s.minBytes = min;
                    changed = true;
                }
            }
        }
    }

    private int ownMinBytes() {
        return switch (kind) {
            case ANY, NUMBER, INTEGER -> 1;
            case STRING -> 2;
            case BOOLEAN, NULL -> 4; // true, null
            case ENUM -> {
                int min = UNREACHABLE;
                for (byte[] literal : literals) {
                    min = Math.min(min, literal.length);
                }
                yield min;
            }
            case ANY_OF -> {
                int min = UNREACHABLE;
                for (JsonSchema o : options) {
                    min = Math.min(min, o.minBytes);
                }
                yield min;
            }
            case ARRAY -> minItems == 0 ? 2 : 2 + minItems * items.minBytes + minItems - 1;
            case OBJECT -> {
                long sum = 2;
                int members = 0;
                for (int i = 0; i < names.length; i++) {
                    if (required[i]) {
                        sum += memberBytes(i) + (members++ > 0 ? 1 : 0);
                    }
                }
                yield (int) Math.min(sum, UNREACHABLE);
            }
        };
    }

    /** The fewest bytes of property {@code i} as a member: {@code "key":value}. */
    long memberBytes(int i) {
        return keys[i].length + 3L + values[i].minBytes;
    }

    /** Whether a value of this node may start with byte {@code c}. */
    boolean mayStartWith(int c) {
        return switch (kind) {
            case ANY -> true;
            case OBJECT -> c == '{';
            case ARRAY -> c == '[';
            case STRING -> c == '"';
            case NUMBER, INTEGER -> c == '-' || (c >= '0' && c <= '9');
            case BOOLEAN -> c == 't' || c == 'f';
            case NULL -> c == 'n';
            case ENUM -> {
                for (byte[] literal : literals) {
                    if ((literal[0] & 0xFF) == c) {
                        yield true;
                    }
                }
                yield false;
            }
            case ANY_OF -> false; // expanded into its options before a value starts
        };
    }

    /** Reads a schema document into nodes; references are resolved once every node exists. */
    private static final class Compiler {
        final JsonNode document;
        final List<JsonSchema> all = new ArrayList<>();
        final Map<String, JsonSchema> byPointer = new HashMap<>();
        final List<JsonSchema> references = new ArrayList<>();
        final Map<JsonSchema, String> referenceTargets = new HashMap<>();

        Compiler(JsonNode document) {
            this.document = document;
        }

        JsonSchema node(JsonNode schema, String at) {
            JsonSchema s = parse(schema, at);
            byPointer.putIfAbsent(at, s);
            return s;
        }

        private JsonSchema parse(JsonNode schema, String at) {
            if (schema.isBoolean()) {
                if (!schema.asBoolean()) {
                    throw new IllegalArgumentException("the schema at " + at + " is false: no value is allowed there");
                }
                return add(new JsonSchema(Kind.ANY));
            }
            if (!schema.isObject()) {
                throw new IllegalArgumentException("the schema at " + at + " must be an object");
            }
            for (String keyword : schema.propertyNames()) {
                if (!ANNOTATIONS.contains(keyword) && !Set.of("type", "properties", "required", "additionalProperties",
                        "items", "minItems", "maxItems", "enum", "const", "anyOf", "$ref").contains(keyword)) {
                    throw new IllegalArgumentException("the schema keyword '" + keyword + "' (at " + at
                            + ") is not supported in structured output");
                }
            }
            if (schema.has("$ref")) {
                if (schema.size() > 1 && !ANNOTATIONS.containsAll(without(schema.propertyNames(), "$ref"))) {
                    throw new IllegalArgumentException("a $ref (at " + at + ") must stand alone");
                }
                JsonSchema reference = add(new JsonSchema(Kind.ANY_OF));
                references.add(reference);
                referenceTargets.put(reference, schema.get("$ref").asString());
                return reference;
            }
            List<JsonSchema> alternatives = new ArrayList<>();
            if (schema.has("enum") || schema.has("const")) {
                alternatives.add(literals(schema, at));
            } else if (schema.has("anyOf")) {
                JsonNode anyOf = schema.get("anyOf");
                if (!anyOf.isArray() || anyOf.isEmpty()) {
                    throw new IllegalArgumentException("anyOf (at " + at + ") must be a non-empty array of schemas");
                }
                for (int i = 0; i < anyOf.size(); i++) {
                    alternatives.add(node(anyOf.get(i), at + "/anyOf/" + i));
                }
            } else {
                for (String type : types(schema, at)) {
                    alternatives.add(typed(schema, type, at));
                }
            }
            if (alternatives.size() == 1) {
                return alternatives.getFirst();
            }
            JsonSchema anyOf = add(new JsonSchema(Kind.ANY_OF));
            anyOf.options = alternatives.toArray(JsonSchema[]::new);
            return anyOf;
        }

        private static Set<String> without(Iterable<String> names, String name) {
            Set<String> out = new LinkedHashSet<>();
            names.forEach(out::add);
            out.remove(name);
            return out;
        }

        private static List<String> types(JsonNode schema, String at) {
            JsonNode type = schema.get("type");
            if (type == null) {
                if (schema.has("properties")) {
                    return List.of("object");
                }
                return schema.has("items") ? List.of("array") : List.of("any");
            }
            List<String> out = new ArrayList<>();
            for (JsonNode t : type.isArray() ? type : List.of(type)) {
                if (!t.isString() || !Set.of("object", "array", "string", "number", "integer", "boolean", "null")
                        .contains(t.asString())) {
                    throw new IllegalArgumentException("type (at " + at + ") must be object, array, string, number,"
                            + " integer, boolean or null, or a list of them");
                }
                out.add(t.asString());
            }
            if (out.isEmpty()) {
                throw new IllegalArgumentException("type (at " + at + ") must not be an empty list");
            }
            return out;
        }

        private JsonSchema typed(JsonNode schema, String type, String at) {
            return switch (type) {
                case "any" -> add(new JsonSchema(Kind.ANY));
                case "object" -> object(schema, at);
                case "array" -> array(schema, at);
                case "string" -> add(new JsonSchema(Kind.STRING));
                case "number" -> add(new JsonSchema(Kind.NUMBER));
                case "integer" -> add(new JsonSchema(Kind.INTEGER));
                case "boolean" -> add(new JsonSchema(Kind.BOOLEAN));
                default -> add(new JsonSchema(Kind.NULL));
            };
        }

        private JsonSchema object(JsonNode schema, String at) {
            JsonSchema s = add(new JsonSchema(Kind.OBJECT));
            JsonNode properties = schema.get("properties");
            List<String> names = new ArrayList<>();
            if (properties != null) {
                if (!properties.isObject()) {
                    throw new IllegalArgumentException("properties (at " + at + ") must be an object");
                }
                properties.propertyNames().forEach(names::add);
            }
            Set<String> required = new LinkedHashSet<>();
            JsonNode requiredNode = schema.get("required");
            if (requiredNode != null) {
                if (!requiredNode.isArray()) {
                    throw new IllegalArgumentException("required (at " + at + ") must be an array of property names");
                }
                for (JsonNode r : requiredNode) {
                    if (!r.isString() || !names.contains(r.asString())) {
                        throw new IllegalArgumentException("required (at " + at + ") names '" + r.asString("")
                                + "', which is not among its properties");
                    }
                    required.add(r.asString());
                }
            }
            s.names = names.toArray(String[]::new);
            s.keys = new byte[names.size()][];
            s.values = new JsonSchema[names.size()];
            s.required = new boolean[names.size()];
            for (int i = 0; i < names.size(); i++) {
                s.keys[i] = keyBytes(names.get(i));
                s.values[i] = node(properties.get(names.get(i)), at + "/properties/" + names.get(i));
                s.required[i] = required.contains(names.get(i));
            }
            JsonNode additional = schema.get("additionalProperties");
            if (names.isEmpty()) {
                // Without properties, members are free: of the additionalProperties schema, or of any value.
                if (additional == null || additional.isBoolean()) {
                    s.additional = additional != null && !additional.asBoolean() ? null : ANY;
                } else {
                    s.additional = node(additional, at + "/additionalProperties");
                }
            } else if (additional != null && !additional.isBoolean()) {
                node(additional, at + "/additionalProperties"); // checked, though generation writes only declared properties
            }
            return s;
        }

        private JsonSchema array(JsonNode schema, String at) {
            JsonSchema s = add(new JsonSchema(Kind.ARRAY));
            JsonNode items = schema.get("items");
            s.items = items == null ? ANY : node(items, at + "/items");
            s.minItems = count(schema, "minItems", 0, at);
            s.maxItems = count(schema, "maxItems", Integer.MAX_VALUE, at);
            if (s.minItems > s.maxItems) {
                throw new IllegalArgumentException("minItems exceeds maxItems (at " + at + ")");
            }
            return s;
        }

        private static int count(JsonNode schema, String keyword, int fallback, String at) {
            JsonNode v = schema.get(keyword);
            if (v == null) {
                return fallback;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt() || v.asInt() < 0) {
                throw new IllegalArgumentException(keyword + " (at " + at + ") must be a non-negative integer");
            }
            return v.asInt();
        }

        private JsonSchema literals(JsonNode schema, String at) {
            List<JsonNode> values = new ArrayList<>();
            if (schema.has("const")) {
                values.add(schema.get("const"));
            } else {
                JsonNode e = schema.get("enum");
                if (!e.isArray() || e.isEmpty()) {
                    throw new IllegalArgumentException("enum (at " + at + ") must be a non-empty array");
                }
                e.forEach(values::add);
            }
            JsonSchema s = add(new JsonSchema(Kind.ENUM));
            s.literals = new byte[values.size()][];
            for (int i = 0; i < values.size(); i++) {
                if (values.get(i).isContainer()) {
                    throw new IllegalArgumentException("enum and const values (at " + at + ") must be strings,"
                            + " numbers, booleans or null");
                }
                s.literals[i] = JSON.writeValueAsString(values.get(i)).getBytes(StandardCharsets.UTF_8);
            }
            return s;
        }

        private JsonSchema add(JsonSchema s) {
            all.add(s);
            return s;
        }

        /** Points each reference node at its target: a reference becomes a one-option anyOf. */
        void resolveReferences() {
            // Index by index: a target compiled here may hold references of its own, added to the list.
            for (int i = 0; i < references.size(); i++) {
                JsonSchema reference = references.get(i);
                reference.options = new JsonSchema[] {target(referenceTargets.get(reference))};
            }
            for (JsonSchema s : all) {
                if (s.kind == Kind.ANY_OF) {
                    checkNotSelfReferential(s, new java.util.HashSet<>());
                }
            }
        }

        private JsonSchema target(String pointer) {
            JsonSchema known = byPointer.get(pointer);
            if (known != null) {
                return known;
            }
            if (!pointer.startsWith("#/")) {
                throw new IllegalArgumentException("$ref '" + pointer + "' must point into this schema (#/$defs/NAME)");
            }
            JsonNode node = document.at(pointer.substring(1));
            if (node == null || node.isMissingNode()) {
                throw new IllegalArgumentException("$ref '" + pointer + "' points at nothing in the schema");
            }
            return node(node, pointer);
        }

        /** An anyOf or reference that leads back to itself without a value in between would never start a value. */
        private static void checkNotSelfReferential(JsonSchema s, java.util.Set<JsonSchema> seen) {
            if (!seen.add(s)) {
                throw new IllegalArgumentException("the schema has a $ref or anyOf that refers to itself"
                        + " without an object or array in between");
            }
            for (JsonSchema o : s.options) {
                if (o.kind == Kind.ANY_OF) {
                    checkNotSelfReferential(o, seen);
                }
            }
            seen.remove(s);
        }
    }
}
