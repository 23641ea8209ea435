package dev.fathom.serve;

import tools.jackson.databind.json.JsonMapper;

/** The error body a request body gets, without a server: for checks of the request parser alone. */
final class RequestErrors {
    private static final JsonMapper JSON = JsonMapper.builder().build();

    private RequestErrors() {
    }

    /** The error body {@code body} gets as a chat completion, or throws if it is accepted. */
    static String parse(String body) {
        try {
            CompletionRequest.chat(JSON.readTree(body));
        } catch (ApiError e) {
            return JSON.writeValueAsString(e.body(JSON));
        }
        throw new AssertionError("accepted: " + body);
    }
}
