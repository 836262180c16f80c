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
import java.util.UUID;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * The OpenAI-style API: {@code POST /v1/completions}, {@code POST /v1/chat/completions},
 * {@code GET /v1/models} (documented in META-INF/openapi.yaml). Plain Vert.x routes, so one
 * endpoint can answer either SSE or JSON; tokenization runs on a worker thread.
 */
@ApplicationScoped
public class Routes {

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
        router.route("/v1/*").handler(BodyHandler.create().setBodyLimit(maxBodyBytes));
        router.post("/v1/completions").handler(ctx -> complete(ctx, false));
        router.post("/v1/chat/completions").handler(ctx -> complete(ctx, true));
        router.get("/v1/models").handler(this::models);
    }

    private void models(RoutingContext ctx) {
        try {
            apiKey.check(ctx.request().getHeader("Authorization"));
            reply(ctx, 200, Map.of("object", "list", "data", List.of(Map.of("id", model.id(), "object", "model",
                    "created", 0, "owned_by", "triforce"))));
        } catch (ApiException e) {
            reply(ctx, e.status(), e.body());
        }
    }

    private void complete(RoutingContext ctx, boolean chat) {
        Context context = ctx.vertx().getOrCreateContext();
        String authorization = ctx.request().getHeader("Authorization");
        String body = ctx.body().asString();
        ctx.vertx().<GenerationRequest>executeBlocking(() -> {
            apiKey.check(authorization);
            return new RequestParser(json, model).parse(body, chat);
        }, false).onComplete(result -> context.runOnContext(v -> {
            if (result.failed()) {
                ApiException e = result.cause() instanceof ApiException a ? a
                        : new ApiException(500, "server_error", null, null, String.valueOf(result.cause()));
                reply(ctx, e.status(), e.body());
                return;
            }
            CompletionRun run = new CompletionRun(UUID.randomUUID().toString(), result.result(), model);
            new CompletionExchange(run, ctx.response(), ctx.vertx(), context, hub, json, tokenTimeout).start();
        }));
    }

    private void reply(RoutingContext ctx, int status, Object body) {
        try {
            ctx.response().setStatusCode(status).putHeader("Content-Type", "application/json")
                    .end(json.writeValueAsString(body));
        } catch (Exception e) {
            ctx.response().setStatusCode(500).end();
        }
    }
}
