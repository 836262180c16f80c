package io.triforce.deploy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;

/**
 * A streamed OpenAI completion read in the background: every text delta in arrival order, and
 * how the stream ended (a finish_reason and [DONE], an error event, or the connection closing).
 */
final class CompletionStream {
  private static final ObjectMapper JSON = new ObjectMapper();

  private final List<String> deltas = new ArrayList<>();
  private final CountDownLatch firstDelta = new CountDownLatch(1);
  private final CompletableFuture<String> end = new CompletableFuture<>();

  static CompletionStream start(String baseUrl, String model, String prompt, int maxTokens) {
    String body = JSON.createObjectNode()
        .put("model", model).put("prompt", prompt).put("max_tokens", maxTokens)
        .put("temperature", 0).put("stream", true).toString();
    HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/v1/completions"))
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(body))
        .build();
    CompletionStream stream = new CompletionStream();
    Thread.ofVirtual().start(() -> stream.read(request));
    return stream;
  }

  private void read(HttpRequest request) {
    try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build()) {
      HttpResponse<java.io.InputStream> response = client.send(request, HttpResponse.BodyHandlers.ofInputStream());
      try (BufferedReader lines = new BufferedReader(new InputStreamReader(response.body(), StandardCharsets.UTF_8))) {
        if (response.statusCode() != 200) {
          end.complete("error: HTTP " + response.statusCode() + " " + lines.readLine());
          return;
        }
        String finish = null;
        for (String line; (line = lines.readLine()) != null; ) {
          if (!line.startsWith("data:")) {
            continue;
          }
          String data = line.substring(5).trim();
          if (data.equals("[DONE]")) {
            end.complete(finish == null ? "error: [DONE] without a finish_reason" : "finish: " + finish);
            return;
          }
          JsonNode event = JSON.readTree(data);
          if (event.has("error")) {
            end.complete("error: " + event.get("error"));
            return;
          }
          JsonNode choice = event.path("choices").path(0);
          synchronized (deltas) {
            deltas.add(choice.path("text").asText(""));
          }
          firstDelta.countDown();
          if (choice.hasNonNull("finish_reason")) {
            finish = choice.get("finish_reason").asText();
          }
        }
        end.complete("error: the stream closed without [DONE]");
      }
    } catch (IOException e) {
      end.complete("error: " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      end.complete("error: interrupted");
    } finally {
      firstDelta.countDown();
    }
  }

  CountDownLatch firstDelta() {
    return firstDelta;
  }

  /** "finish: &lt;reason&gt;" or "error: &lt;what&gt;". */
  CompletableFuture<String> end() {
    return end;
  }

  String text() {
    synchronized (deltas) {
      return String.join("", deltas);
    }
  }
}
