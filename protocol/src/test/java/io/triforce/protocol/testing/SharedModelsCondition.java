package io.triforce.protocol.testing;

import java.nio.file.Files;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Disables a test class, with the reason, when the pycode pair or the dev documents are absent:
 * evaluated before any other extension, so a {@code @QuarkusTest} whose services load the models
 * at startup is skipped instead of failing to start. Use {@code @ExtendWith(SharedModelsCondition.class)}.
 */
public final class SharedModelsCondition implements ExecutionCondition {

    private static final List<String> NEEDED = List.of("models/pycode-target-23m/config.json",
            "models/pycode-draft-3.7m/config.json", "eval/dev_docs.jsonl");

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        Optional<java.nio.file.Path> root = SharedModels.root();
        if (root.isEmpty()) {
            return ConditionEvaluationResult.disabled("shared data not found: set " + SharedModels.ENV
                    + " or provide ../shared (the pycode models and eval/dev_docs.jsonl)");
        }
        for (String needed : NEEDED) {
            if (!Files.exists(root.get().resolve(needed))) {
                return ConditionEvaluationResult.disabled(root.get().resolve(needed) + " not found: the test needs it");
            }
        }
        return ConditionEvaluationResult.enabled("shared data in " + root.get());
    }
}
