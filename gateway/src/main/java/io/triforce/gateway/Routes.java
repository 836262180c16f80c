package io.triforce.gateway;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.Context;
import io.vertx.ext.web.Router;
import io.vertx.ext.web.RoutingContext;
import io.vertx.ext.web.handler.BodyHandler;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The OpenAI-style API: {@code POST /v1/completions}, {@code POST /v1/chat/completions},
 * {@code GET /v1/models} (documented in META-INF/openapi.yaml). Plain Vert.x routes, so one
 * endpoint can answer either SSE or JSON; tokenization runs on a worker thread. The API key is
 * checked before the body is read; every refusal under /v1 (401, 400, 404, 405, 413, 415, 429)
 * carries OpenAI's error body.
 */
@ApplicationScoped
public class Routes {

    private static final Set<String> POST_PATHS = Set.of("/v1/completions", "/v1/chat/completions");

    @Inject
    ServedModel model;
    @Inject
    SessionHub hub;
    @Inject
    ApiKey apiKey;
    @Inject
    ObjectMapper json;
    @ConfigProperty(name = "triforce.gateway.token-timeout")
    Duration tokenTimeout;
    @ConfigProperty(name = "triforce.gateway.max-body-bytes")
    long maxBodyBytes;

    void routes(@Observes Router router) {
        router.route("/v1/*").handler(this::authorize).failureHandler(this::failure);
        router.route("/v1/*").handler(BodyHandler.create(false).setBodyLimit(maxBodyBytes));
        router.post("/v1/completions").handler(ctx -> complete(ctx, false));
        router.post("/v1/chat/completions").handler(ctx -> complete(ctx, true));
        router.get("/v1/models").handler(ctx -> reply(ctx, 200, Map.of("object", "list", "data", List.of(Map.of("id",
                model.id(), "object", "model", "created", 0, "owned_by", "triforce")))));
        router.route("/v1/*").handler(this::unrouted);
    }

    private void authorize(RoutingContext ctx) {
        try {
            apiKey.check(ctx.request().getHeader("Authorization"));
            ctx.next();
        } catch (ApiException e) {
            reply(ctx, e);
        }
    }

    private void complete(RoutingContext ctx, boolean chat) {
        String type = ctx.request().getHeader("Content-Type");
        if (type != null && !type.split(";")[0].strip().equalsIgnoreCase("application/json")) {
            reply(ctx, new ApiException(415, "invalid_request_error", null, "unsupported_media_type",
                    "Content-Type must be application/json"));
            return;
        }
        Context context = ctx.vertx().getOrCreateContext();
        byte[] body = ctx.body().buffer() == null ? new byte[0] : ctx.body().buffer().getBytes();
        ctx.vertx().<GenerationRequest>executeBlocking(() -> new RequestParser(json, model).parse(body, chat), false)
                .onComplete(result -> context.runOnContext(v -> {
                    try {
                        if (result.failed()) {
                            throw result.cause() instanceof ApiException a ? a
                                    : new ApiException(500, "server_error", null, null, String.valueOf(result.cause()));
                        }
                        CompletionRun run = new CompletionRun(UUID.randomUUID().toString(), result.result(), model);
                        new CompletionExchange(run, ctx.response(), ctx.vertx(), context, hub, json, tokenTimeout).start();
                    } catch (ApiException e) {
                        reply(ctx, e);
                    } catch (RuntimeException e) {
                        reply(ctx, new ApiException(500, "server_error", null, null, e.toString()));
                    }
                }));
    }

    /** A path under /v1 that no route took: 405 for a known path, else 404. */
    private void unrouted(RoutingContext ctx) {
        String path = ctx.normalizedPath();
        boolean known = POST_PATHS.contains(path) || path.equals("/v1/models");
        reply(ctx, known ? new ApiException(405, "invalid_request_error", null, "method_not_allowed",
                ctx.request().method() + " is not allowed on " + path)
                : new ApiException(404, "invalid_request_error", null, "unknown_url", "Unknown request URL: "
                + ctx.request().method() + " " + (path.length() > 100 ? path.substring(0, 100) + "..." : path)));
    }

    /** Failures of the body handler (413 for an oversized body) and anything unexpected. */
    private void failure(RoutingContext ctx) {
        int status = ctx.statusCode();
        reply(ctx, status == 413 ? new ApiException(413, "invalid_request_error", null, "request_too_large",
                "the request body exceeds " + maxBodyBytes + " bytes")
                : status >= 400 && status < 500 ? new ApiException(status, "invalid_request_error", null, null,
                "the request could not be read")
                : new ApiException(500, "server_error", null, null, String.valueOf(ctx.failure())));
    }

    private void reply(RoutingContext ctx, ApiException e) {
        e.headers().forEach(ctx.response()::putHeader);
        reply(ctx, e.status(), e.body());
    }

    private void reply(RoutingContext ctx, int status, Object body) {
        if (ctx.response().ended() || ctx.response().closed()) {
            return;
        }
        try {
            ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                    .end(json.writeValueAsString(body));
        } catch (Exception e) {
            ctx.response().setStatusCode(500).end();
        }
    }
}
