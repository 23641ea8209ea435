package dev.fathom.cli;

import dev.fathom.tensor.GgmlType;
import dev.fathom.tensor.Parallel;
import dev.fathom.train.Pipeline;
import dev.fathom.train.Reinforcement;
import dev.fathom.train.rl.Grpo;
import dev.fathom.train.model.ModelConfig;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code fathom train}: the DeepSeek recipe at small scale, from a seed, up to the stage asked
 * for, each stage resumed from its checkpoint if a run was stopped.
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = {"Train the tiny DeepSeek-architecture model (MLA + MoE) on arithmetic with"
        + " worked reasoning: a tokenizer, pretraining, fine-tuning on chats, then GRPO on checked answers; writes a GGUF file.",
    "Stages: pretrain, sft, grpo, all (every stage). Checkpoints go to --work; run the same command again to go on."})
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "STAGE", description = "pretrain, sft, grpo or all (the stages up to it are run)")
    String stage;

    @Option(names = {"-o", "--out"}, required = true, paramLabel = "FILE", description = "The GGUF file to write.")
    Path out;

    @Option(names = "--work", paramLabel = "DIR", description = "Checkpoints (default: FILE's name + .work).")
    Path work;

    @Option(names = "--seed", paramLabel = "N", description = "Seed of everything: tokenizer, weights, batches (default: ${DEFAULT-VALUE}).")
    long seed = 1;

    @Option(names = "--pretrain-steps", paramLabel = "N", description = "Pretraining steps (default: ${DEFAULT-VALUE}).")
    int pretrainSteps = 500;

    @Option(names = "--sft-steps", paramLabel = "N", description = "Fine-tuning steps (default: ${DEFAULT-VALUE}).")
    int sftSteps = 2500;

    @Option(names = "--grpo-steps", paramLabel = "N", description = "GRPO steps (default: ${DEFAULT-VALUE}).")
    int grpoSteps = 160;

    @Option(names = "--group", paramLabel = "N", description = "GRPO: replies sampled per problem (default: ${DEFAULT-VALUE}).")
    int group = 8;

    @Option(names = "--prompts", paramLabel = "N", description = "GRPO: problems per step (default: ${DEFAULT-VALUE}).")
    int prompts = 8;

    @Option(names = "--variant", paramLabel = "NAME", description = "GRPO's variant: grpo, dapo (token-level loss,"
            + " clip-higher, and dynamic sampling: a group whose replies are all right or all wrong gives way to a fresh"
            + " problem) or dr-grpo (default: ${DEFAULT-VALUE}).")
    String variant = "dapo";

    @Option(names = "--grpo-lr", paramLabel = "X", description = "GRPO: learning rate (default: ${DEFAULT-VALUE}).")
    double grpoLearningRate = 2e-4;

    @Option(names = "--kl", paramLabel = "BETA", description = "GRPO: weight of the k3 KL penalty towards the fine-tuned model (default: ${DEFAULT-VALUE}).")
    double beta = 0.04;

    @Option(names = "--batch", paramLabel = "N", description = "Sequences per step (default: ${DEFAULT-VALUE}).")
    int rows = 16;

    @Option(names = "--lr", paramLabel = "X", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double learningRate = 3e-3;

    @Option(names = "--type", paramLabel = "TYPE", description = "Weight type of the file: f32 or q8_0 (default: ${DEFAULT-VALUE}).")
    String type = "q8_0";

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (default: ${DEFAULT-VALUE}).")
    int threads = Parallel.defaultThreads();

    @Option(names = "--verbose", description = "Show stack traces of errors.")
    boolean verbose;

    /** Tokens per training sequence: the longest worked problem in the chat template fits (287 tokens). */
    static final int LENGTH = 288;

    /** The shipped model's shape: about 1.8M parameters. */
    static final ModelConfig TINY = new ModelConfig(512, 128, 4, 1, 4, 64, 64, 16, 16, 32, 384, 8, 2, 128, 10000, 320);

    @Override
    public Integer call() throws Exception {
        Pipeline.Stage last = switch (stage) {
            case "pretrain" -> Pipeline.Stage.PRETRAIN;
            case "sft" -> Pipeline.Stage.SFT;
            case "grpo", "all" -> Pipeline.Stage.GRPO;
            default -> throw new Main.UserError("unknown stage '" + stage + "' (pretrain, sft, grpo or all)");
        };
        Grpo.Variant normalisation = switch (variant) {
            case "grpo" -> Grpo.Variant.GRPO;
            case "dapo" -> Grpo.Variant.DAPO;
            case "dr-grpo" -> Grpo.Variant.DR_GRPO;
            default -> throw new Main.UserError("--variant must be grpo, dapo or dr-grpo, not " + variant);
        };
        GgmlType weights = switch (type.toLowerCase(Locale.ROOT)) {
            case "f32" -> GgmlType.F32;
            case "q8_0" -> GgmlType.Q8_0;
            default -> throw new Main.UserError("--type must be f32 or q8_0, not " + type);
        };
        if (pretrainSteps < 1 || sftSteps < 1 || grpoSteps < 1 || rows < 1 || threads < 1 || group < 2 || prompts < 1) {
            throw new Main.UserError("steps, --batch, --prompts and --threads must be at least 1, --group at least 2");
        }
        var grpo = new Reinforcement.Settings(grpoSteps, prompts, group, 300, grpoLearningRate, beta, normalisation,
                normalisation == Grpo.Variant.DAPO ? Grpo.Clip.DAPO : Grpo.Clip.GRPO, 1f);
        Path dir = work != null ? work : out.resolveSibling(out.getFileName() + ".work");
        PrintWriter err = spec.commandLine().getErr();
        long started = System.nanoTime();
        Pipeline.run(new Pipeline.Settings(TINY, TINY.vocabulary(), pretrainSteps, sftSteps, rows, LENGTH,
                learningRate, seed, weights, grpo), last, dir, out, (name, step, steps, loss, tokensPerSecond, secondsLeft) -> {
                    err.printf("\r%-8s step %5d/%d  loss %.4f  %5.0f tok/s  ETA %s   ", name, step, steps, loss,
                            tokensPerSecond, clock(secondsLeft));
                    if (step == steps) {
                        err.println();
                    }
                    err.flush();
                }, (step, steps, reward, accuracy, secondsLeft) -> {
                    err.printf("\rgrpo     step %5d/%d  reward %.3f  right %3.0f%%  ETA %s   ", step, steps, reward,
                            100 * accuracy, clock(secondsLeft));
                    if (step == steps) {
                        err.println();
                    }
                    err.flush();
                }, threads);
        err.printf("wrote %s in %s%n", out, clock((System.nanoTime() - started) / 1e9));
        return 0;
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return String.format("%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60);
    }
}
