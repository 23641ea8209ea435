package dev.fathom.train.tasks;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.train.tasks.Problem.Family;
import java.util.List;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The task generators: every worked solution is right in every step, and held-out problems stay out of training. */
class TasksTest {
    private static final Pattern ADD_STEP = Pattern.compile("(?m)^(\\d+) \\+ (\\d+)(?: \\+ (\\d+))? = (\\d+), write (\\d)");
    private static final Pattern PRODUCT_STEP = Pattern.compile("(?m)^(\\d) × (\\d)(?: \\+ (\\d+))? = (\\d+), write (\\d+)");
    private static final Pattern BORROW_STEP = Pattern.compile("(?m)^(\\d) - (\\d)(?: - 1)? is below 0, borrow: 1(\\d) - (\\d)(?: - (1))? = (\\d)");

    @ParameterizedTest
    @EnumSource(Family.class)
    void everySolutionEndsWithTheRightAnswerAndEveryStepIsRight(Family family) {
        SplittableRandom random = new SplittableRandom(family.ordinal());
        int steps = 0;
        for (int i = 0; i < 2000; i++) {
            Problem p = Tasks.any(family, 2 + random.nextInt(4), random);
            String solution = p.solution();
            assertThat(Rewards.correct(p, solution)).as(solution).isTrue();
            assertThat(Rewards.wellFormed(solution)).as(solution).isTrue();
            assertThat(solution).contains(p.expression() + " = " + p.answer() + ".");
            Matcher m = ADD_STEP.matcher(solution);
            while (m.find()) {
                int sum = Integer.parseInt(m.group(1)) + Integer.parseInt(m.group(2)) + (m.group(3) == null ? 0 : Integer.parseInt(m.group(3)));
                assertThat(Integer.parseInt(m.group(4))).as(m.group()).isEqualTo(sum);
                assertThat(Integer.parseInt(m.group(5))).as(m.group()).isEqualTo(sum % 10);
                steps++;
            }
            m = PRODUCT_STEP.matcher(solution);
            while (m.find()) {
                int product = Integer.parseInt(m.group(1)) * Integer.parseInt(m.group(2))
                        + (m.group(3) == null ? 0 : Integer.parseInt(m.group(3)));
                assertThat(Integer.parseInt(m.group(4))).as(m.group()).isEqualTo(product);
                steps++;
            }
            m = BORROW_STEP.matcher(solution);
            while (m.find()) {
                int value = 10 + Integer.parseInt(m.group(3)) - Integer.parseInt(m.group(4)) - (m.group(5) == null ? 0 : 1);
                assertThat(Integer.parseInt(m.group(6))).as(m.group()).isEqualTo(value);
                steps++;
            }
        }
        assertThat(steps).as("steps checked").isGreaterThan(2000);
    }

    @Test
    void examplesReadAsAPupilWouldWriteThem() {
        Problem add = new Problem(Family.ADDITION, 487, 965, "What is 487 + 965?");
        assertThat(add.solution()).isEqualTo("""
                <think>
                Add 487 and 965 digit by digit, from the right.
                7 + 5 = 12, write 2, carry 1.
                8 + 6 + 1 = 15, write 5, carry 1.
                4 + 9 + 1 = 14, write 4, carry 1.
                The last carry 1 leads.
                487 + 965 = 1452.
                </think>

                1452""");
        Problem subtract = new Problem(Family.SUBTRACTION, 5000, 1289, "Subtract 1289 from 5000.");
        assertThat(subtract.solution()).contains("0 - 9 is below 0, borrow: 10 - 9 = 1.\n",
                "0 - 8 - 1 is below 0, borrow: 10 - 8 - 1 = 1.\n", "5 - 1 - 1 = 3.\n", "5000 - 1289 = 3711.");
        assertThat(new Problem(Family.SUBTRACTION, 1289, 5000, "").solution())
                .contains("1289 is less than 5000", "5000 - 1289 = 3711, so the result is -3711.", "1289 - 5000 = -3711.");
        Problem multiply = new Problem(Family.MULTIPLICATION_2X2, 23, 47, "Compute 23 × 47.");
        assertThat(multiply.solution()).contains("Split 47 into 40 + 7.", "3 × 7 = 21, write 1, carry 2.",
                "2 × 7 + 2 = 16, write 16.", "So 23 × 7 = 161.", "So 23 × 40 = 920.", "161 + 920 = 1081", "23 × 47 = 1081.");
    }

    @Test
    void heldOutProblemsNeverComeUpInTraining() {
        List<Problem> heldOut = Tasks.heldOut(Family.ADDITION, 3, 200, 1);
        assertThat(heldOut).hasSize(200).allMatch(Tasks::isHeldOut);
        java.util.Set<String> held = new java.util.HashSet<>();
        heldOut.forEach(p -> held.add(p.expression()));
        SplittableRandom random = new SplittableRandom(2);
        int trainingDraws = 50_000;
        for (int i = 0; i < trainingDraws; i++) {
            Problem p = Tasks.training(Family.ADDITION, 3, random);
            assertThat(held).doesNotContain(p.expression());
        }
        // About one in ten problems is held out.
        long count = 0;
        for (int i = 0; i < 10_000; i++) {
            count += Tasks.isHeldOut(Tasks.any(Family.MULTIPLICATION_2X2, 2, random)) ? 1 : 0;
        }
        assertThat(count).isBetween(800L, 1200L);
    }

    @Test
    void rewardsCheckTheAnswerAfterTheReasoningAndTheForm() {
        Problem p = new Problem(Family.ADDITION, 12, 30, "What is 12 + 30?");
        assertThat(Rewards.reward(p, "<think>\n2 + 0 = 2. 1 + 3 = 4.\n</think>\n\n42")).isEqualTo(Rewards.CORRECT + Rewards.FORMAT);
        assertThat(Rewards.reward(p, "2 + 0 = 2.\n</think>\n42")).as("the template opened the block").isEqualTo(1.1);
        assertThat(Rewards.reward(p, "<think>\n42 is what I think\n</think>\n\n41")).isEqualTo(Rewards.FORMAT);
        assertThat(Rewards.reward(p, "The answer is 42")).as("right, but no reasoning block").isEqualTo(Rewards.CORRECT);
        assertThat(Rewards.reward(p, "<think>\nhmm")).isZero();
        assertThat(Rewards.reward(p, "<think>a</think><think>b</think>42")).as("two blocks").isEqualTo(Rewards.CORRECT);
        assertThat(Rewards.answer("</think> -17 ")).isEqualTo(-17L);
        assertThat(Rewards.answer("</think> no number")).isNull();
        assertThat(Rewards.answer("</think> 99999999999999999999999")).isNull();
    }

    @Test
    void questionsAreAskedInPlainEnglish() {
        SplittableRandom random = new SplittableRandom(3);
        java.util.Set<String> forms = new java.util.HashSet<>();
        for (int i = 0; i < 500; i++) {
            Problem p = Tasks.any(Family.SUBTRACTION, 4, random);
            forms.add(p.question().replaceAll("\\d+", "N"));
            assertThat(p.question()).contains(Long.toString(p.a())).contains(Long.toString(p.b()));
        }
        assertThat(forms).contains("Subtract N from N.", "What is N - N?", "What is N minus N?");
    }
}
