package dev.fathom.cli;

import dev.fathom.model.Model;
import dev.fathom.train.Evaluation;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** {@code fathom eval}: a model's accuracy on held-out arithmetic, bucket by bucket. */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Accuracy on held-out arithmetic problems (never trained on), per task family"
        + " and size: greedy pass@1 through the chat template.")
final class EvalCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--problems", paramLabel = "N", description = "Problems per bucket (default: ${DEFAULT-VALUE}).")
    int problems = 50;

    @Option(names = "--seed", paramLabel = "N", description = "Which held-out problems (default: ${DEFAULT-VALUE}).")
    long seed = 7;

    @Option(names = {"-n", "--max-tokens"}, paramLabel = "N", description = "Longest reply (default: ${DEFAULT-VALUE}).")
    int maxTokens = 400;

    @Override
    public Integer call() {
        if (problems < 1 || maxTokens < 1) {
            throw new Main.UserError("--problems and --max-tokens must be at least 1");
        }
        try (Model model = modelOptions.open()) {
            var scores = Evaluation.greedy(model, problems, seed, maxTokens);
            spec.commandLine().getOut().print(Evaluation.table(Evaluation.column("greedy pass@1", scores)));
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
