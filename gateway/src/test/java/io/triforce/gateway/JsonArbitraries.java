package io.triforce.gateway;

import com.fasterxml.jackson.core.JsonProcessingException;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/** jqwik generators of request bodies for fuzzing the gateway's JSON endpoints. */
final class JsonArbitraries {

    private static final List<String> FIELDS = List.of("model", "prompt", "messages", "max_tokens",
            "max_completion_tokens", "temperature", "top_p", "seed", "stop", "stream", "n", "user");

    private JsonArbitraries() {
    }

    /** Any JSON value (as text), nested up to 4 levels. */
    static Arbitrary<String> values() {
        return Arbitraries.recursive(JsonArbitraries::scalars, JsonArbitraries::containers, 0, 4);
    }

    /** Objects whose keys are mostly the real request fields, with random values of any type. */
    static Arbitrary<String> requests(String model) {
        Arbitrary<String> keys = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(9, Arbitraries.of(FIELDS)),
                net.jqwik.api.Tuple.of(1, Arbitraries.strings().ofMaxLength(8)));
        Arbitrary<String> vals = Arbitraries.frequencyOf(net.jqwik.api.Tuple.of(3, values()),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(quote(model))),
                net.jqwik.api.Tuple.of(1, messages()));
        Arbitrary<Map<String, String>> fields = Arbitraries.maps(keys, vals).ofMaxSize(8);
        return Combinators.combine(fields, Arbitraries.of(true, false)).as((f, withModel) -> {
            if (withModel) {
                f.put("model", quote(model));
            }
            return object(f);
        });
    }

    /** A valid request with up to two fields given random values (or dropped, as JSON null). */
    static Arbitrary<String> nearValid(String model) {
        Map<String, String> valid = Map.of("model", quote(model), "prompt", quote("def f(x):"), "max_tokens", "3",
                "temperature", "0.7", "top_p", "0.9", "seed", "7", "stop", "[\"\\n\\n\"]", "stream", "true");
        return Combinators.combine(Arbitraries.of(List.copyOf(valid.keySet())).list().ofMaxSize(2), values().list().ofSize(2))
                .as((keys, vals) -> {
                    Map<String, String> f = new java.util.TreeMap<>(valid);
                    for (int i = 0; i < keys.size(); i++) {
                        f.put(keys.get(i), vals.get(i));
                    }
                    return object(f);
                });
    }

    /** A valid request cut short or with one byte replaced. */
    static Arbitrary<String> mangled(String model) {
        String valid = "{\"model\":" + quote(model) + ",\"prompt\":\"def f(x):\",\"max_tokens\":3,\"temperature\":0.5}";
        return Combinators.combine(Arbitraries.integers().between(0, valid.length() - 1),
                Arbitraries.chars().ascii(), Arbitraries.of(true, false)).as((at, c, cut) ->
                cut ? valid.substring(0, at) : valid.substring(0, at) + c + valid.substring(at + 1));
    }

    private static Arbitrary<String> messages() {
        Arbitrary<String> message = Combinators.combine(Arbitraries.of("user", "system", "assistant", "tool", ""),
                Arbitraries.strings().ofMaxLength(30)).as((r, c) -> object(Map.of("role", quote(r), "content", quote(c))));
        return message.list().ofMaxSize(3).map(l -> "[" + String.join(",", l) + "]");
    }

    private static Arbitrary<String> scalars() {
        return Arbitraries.oneOf(Arbitraries.integers().map(String::valueOf), Arbitraries.longs().map(String::valueOf),
                Arbitraries.doubles().between(-1e6, 1e6).map(String::valueOf),
                Arbitraries.of("0", "1", "-1", "2", "0.5", "1e400", "-0", "true", "false", "null", "\"\""),
                Arbitraries.strings().ofMaxLength(40).map(JsonArbitraries::quote));
    }

    private static Arbitrary<String> containers(Arbitrary<String> inner) {
        return Arbitraries.oneOf(inner.list().ofMaxSize(4).map(l -> "[" + String.join(",", l) + "]"),
                Arbitraries.maps(Arbitraries.strings().ofMaxLength(6), inner).ofMaxSize(4).map(JsonArbitraries::object));
    }

    private static String object(Map<String, String> fields) {
        return fields.entrySet().stream().map(e -> quote(e.getKey()) + ":" + e.getValue())
                .collect(Collectors.joining(",", "{", "}"));
    }

    private static String quote(String s) {
        try {
            return Http.JSON.writeValueAsString(s);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }
}
