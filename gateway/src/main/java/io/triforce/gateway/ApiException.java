package io.triforce.gateway;

import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;

/** A request the gateway refuses or cannot serve, answered with OpenAI's error body (and headers, if any). */
public final class ApiException extends RuntimeException {

    private final int status;
    private final String type;
    private final String param;
    private final String code;
    private final Map<String, String> headers;

    public ApiException(int status, String type, String param, String code, String message) {
        this(status, type, param, code, message, Map.of());
    }

    private ApiException(int status, String type, String param, String code, String message, Map<String, String> headers) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
        this.headers = headers;
    }

    public static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    /** 429 with {@code Retry-After}: the gateway already serves as many sessions as it may. */
    public static ApiException busy(int limit, Duration retryAfter) {
        return new ApiException(429, "rate_limit_error", null, "too_many_sessions",
                "the gateway is serving its limit of " + limit + " concurrent sessions; retry later",
                Map.of("Retry-After", Long.toString(Math.max(1, retryAfter.toSeconds()))));
    }

    public int status() {
        return status;
    }

    public Map<String, String> headers() {
        return headers;
    }

    /** {"error":{"message","type","param","code"}} */
    public Map<String, Object> body() {
        Map<String, Object> error = new LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return Map.of("error", error);
    }
}
