package io.triforce.engine.testing;

import io.triforce.engine.cuda.CudaBackend;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A test class that needs a usable CUDA GPU: where the CUDA backend cannot load (no GPU, no
 * driver), its tests are skipped with the reason, before any {@code @BeforeAll} runs.
 */
@Target(ElementType.TYPE)
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(RequiresGpu.Condition.class)
public @interface RequiresGpu {

    /** Enabled exactly when {@link CudaBackend#unavailableReason()} finds nothing in the way. */
    final class Condition implements ExecutionCondition {

        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            String why = CudaBackend.unavailableReason();
            return why == null ? ConditionEvaluationResult.enabled("a CUDA GPU is usable")
                    : ConditionEvaluationResult.disabled("GPU test skipped: " + why);
        }
    }
}
