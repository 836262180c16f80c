package io.triforce.engine.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code ./triforce} command line: generate, logits, bench. Errors exit non-zero with one clear line. */
@Command(name = "triforce", mixinStandardHelpOptions = true, version = "triforce 0.1.0",
        description = "Lossless long-context generation with TriForce hierarchical speculative decoding.",
        subcommands = {GenerateCommand.class, LogitsCommand.class, BenchCommand.class})
public final class TriForceCli {

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns its exit code (0 ok, 1 runtime error, 2 usage error). */
    public static int run(String... args) {
        CommandLine cli = new CommandLine(new TriForceCli());
        cli.setExecutionExceptionHandler((e, commandLine, parsed) -> {
            PrintWriter err = commandLine.getErr();
            err.println("error: " + describe(e));
            err.flush();
            return 1;
        });
        return cli.execute(args);
    }

    private static String describe(Throwable e) {
        String message = e.getMessage();
        return message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
    }
}
