package dev.fathom.model.testing;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * llama.cpp as a test oracle: runs {@code reference/llama-ref.mjs} (node-llama-cpp's prebuilt
 * CPU library) on a batch of requests and returns its answers. See that script for the requests.
 */
public final class LlamaCpp {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private final List<Map<String, Object>> requests = new ArrayList<>();

    /** Where the repository's {@code reference/} folder is, from any module's working directory. */
    public static Path referenceDir() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.exists(dir.resolve("reference/llama-ref.mjs"))) {
            dir = dir.getParent();
        }
        if (dir == null) {
            throw new IllegalStateException("reference/llama-ref.mjs not found above " + Path.of("").toAbsolutePath());
        }
        return dir.resolve("reference");
    }

    /** Adds a request; its answer comes back at the same index from {@link #run()}. */
    public LlamaCpp add(String op, Path model, Object... keyValues) {
        Map<String, Object> request = new LinkedHashMap<>();
        request.put("op", op);
        if (model != null) {
            request.put("model", model.toString());
        }
        for (int i = 0; i < keyValues.length; i += 2) {
            request.put((String) keyValues[i], keyValues[i + 1]);
        }
        requests.add(request);
        return this;
    }

    /** Runs every request in one process (so each model loads once); fails on any error. */
    public List<JsonNode> run() {
        try {
            Path input = Files.createTempFile("llama-ref", ".json");
            try {
                Files.writeString(input, JSON.writeValueAsString(requests));
                Process process = new ProcessBuilder("node", referenceDir().resolve("llama-ref.mjs").toString(),
                        input.toString())
                        .redirectError(ProcessBuilder.Redirect.INHERIT)
                        .start();
                byte[] output = process.getInputStream().readAllBytes();
                if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0) {
                    throw new IllegalStateException("llama-ref.mjs failed with exit code " + process.exitValue());
                }
                JsonNode results = JSON.readTree(new String(output, StandardCharsets.UTF_8));
                List<JsonNode> answers = new ArrayList<>();
                for (int i = 0; i < results.size(); i++) {
                    JsonNode r = results.get(i);
                    if (!r.get("ok").asBoolean()) {
                        throw new IllegalStateException("llama.cpp request " + requests.get(i).get("op") + " failed: "
                                + r.get("error").asString());
                    }
                    answers.add(r);
                }
                return answers;
            } finally {
                Files.deleteIfExists(input);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot run node: " + e.getMessage()
                    + " (the reference tests need Node.js 20+ and reference/setup.sh)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    /** The int array under {@code field}. */
    public static int[] ints(JsonNode answer, String field) {
        JsonNode a = answer.get(field);
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    /** The float vectors (base64 little-endian float32) under {@code field}. */
    public static float[][] floatVectors(JsonNode answer, String field) {
        JsonNode a = answer.get(field);
        float[][] out = new float[a.size()][];
        for (int i = 0; i < out.length; i++) {
            ByteBuffer b = ByteBuffer.wrap(Base64.getDecoder().decode(a.get(i).asString())).order(ByteOrder.LITTLE_ENDIAN);
            out[i] = new float[b.remaining() / 4];
            b.asFloatBuffer().get(out[i]);
        }
        return out;
    }
}
