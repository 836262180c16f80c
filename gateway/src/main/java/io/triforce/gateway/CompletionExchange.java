package io.triforce.gateway;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.triforce.protocol.Commit;
import io.triforce.protocol.Sampling;
import io.triforce.protocol.SessionEvent;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServerResponse;
import java.time.Duration;
import java.util.Map;

/**
 * One HTTP request served from its session's committed log, on the request's Vert.x context:
 * SSE chunks ending with {@code data: [DONE]} when streaming, one JSON body otherwise. Every wait
 * has a deadline (no commit within {@code tokenTimeout} ends the request with an error); a client
 * that goes away cancels the session.
 */
final class CompletionExchange {

    private final CompletionRun run;
    private final HttpServerResponse response;
    private final Vertx vertx;
    private final Context context;
    private final SessionHub hub;
    private final ObjectMapper json;
    private final Duration tokenTimeout;
    private long timer = -1;
    private boolean done;

    CompletionExchange(CompletionRun run, HttpServerResponse response, Vertx vertx, Context context, SessionHub hub,
                       ObjectMapper json, Duration tokenTimeout) {
        this.run = run;
        this.response = response;
        this.vertx = vertx;
        this.context = context;
        this.hub = hub;
        this.json = json;
        this.tokenTimeout = tokenTimeout;
    }

    /**
     * Runs on the request's context (commits arrive on it after this returns).
     *
     * @throws ApiException 429 when the gateway serves its limit of sessions (nothing was written)
     */
    void start() {
        GenerationRequest r = run.request();
        hub.start(SessionEvent.start(run.id(), r.prompt(), r.maxTokens(), Sampling.of(r.sampling())),
                commit -> context.runOnContext(v -> onCommit(commit)));
        if (r.stream()) {
            response.setChunked(true).putHeader("Content-Type", "text/event-stream").putHeader("Cache-Control", "no-cache");
        }
        response.closeHandler(v -> finish(true));
        armTimer();
    }

    private void onCommit(Commit commit) {
        if (done) {
            return;
        }
        armTimer();
        try {
            for (Map<String, Object> chunk : run.accept(commit)) {
                if (run.request().stream()) {
                    response.write("data: " + json.writeValueAsString(chunk) + "\n\n");
                }
            }
            if (run.finished()) {
                finish(run.endedBeforeLog());
                if (run.request().stream()) {
                    response.end("data: [DONE]\n\n");
                } else {
                    response.putHeader("Content-Type", "application/json").end(json.writeValueAsString(run.response()));
                }
            }
        } catch (ApiException e) {
            fail(e);
        } catch (Exception e) {
            fail(new ApiException(500, "server_error", null, null, e.toString()));
        }
    }

    private void armTimer() {
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
        timer = vertx.setTimer(tokenTimeout.toMillis(), id -> context.runOnContext(v -> fail(new ApiException(504,
                "timeout", null, "timeout", "no token within " + tokenTimeout.toSeconds() + " s; the session was cancelled"))));
    }

    private void fail(ApiException e) {
        if (done) {
            return;
        }
        finish(true);
        try {
            String body = json.writeValueAsString(e.body());
            if (response.ended() || response.closed()) {
                return;
            }
            if (response.headWritten()) {
                response.end("data: " + body + "\n\ndata: [DONE]\n\n");
            } else {
                response.setChunked(false).setStatusCode(e.status()).putHeader("Content-Type", "application/json").end(body);
            }
        } catch (Exception ignored) {
            response.reset();
        }
    }

    /** Ends the exchange once: stops the timer and listening; cancels the session if it may be running. */
    private void finish(boolean cancel) {
        if (done) {
            return;
        }
        done = true;
        if (timer >= 0) {
            vertx.cancelTimer(timer);
        }
        hub.close(run.id(), cancel);
    }
}
