package io.triforce.gateway;

/** A request the gateway refuses or cannot serve, answered with OpenAI's error body. */
public final class ApiException extends RuntimeException {

    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiException(int status, String type, String param, String code, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
        this.code = code;
    }

    public static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", param, null, message);
    }

    public int status() {
        return status;
    }

    /** {"error":{"message","type","param","code"}} */
    public java.util.Map<String, Object> body() {
        java.util.Map<String, Object> error = new java.util.LinkedHashMap<>();
        error.put("message", getMessage());
        error.put("type", type);
        error.put("param", param);
        error.put("code", code);
        return java.util.Map.of("error", error);
    }
}
