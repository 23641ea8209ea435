package dev.fathom.serve;

import tools.jackson.databind.json.JsonMapper;
import tools.jackson.databind.node.ObjectNode;

/**
 * A request the API refuses, with the HTTP status and the error body OpenAI and DeepSeek clients
 * read: {@code {"error": {"message", "type", "param", "code"}}}.
 */
public final class ApiError extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;

    public ApiError(int status, String type, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
    }

    /** 400: the request is not what the API accepts (malformed JSON, wrong types, missing fields). */
    public static ApiError invalid(String param, String message) {
        return new ApiError(400, "invalid_request_error", param, message);
    }

    /** 422: well formed, but a value is out of range or not supported. */
    public static ApiError unprocessable(String param, String message) {
        return new ApiError(422, "invalid_request_error", param, message);
    }

    public int status() {
        return status;
    }

    /** The error body. */
    public ObjectNode body(JsonMapper json) {
        ObjectNode root = json.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.putNull("code");
        return root;
    }
}
