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
    private static final Pattern PRODUCT_STEP = Pattern.compile("(?m)^(\\d) × (\\d) = (\\d+)(?:, (\\d+) \\+ (\\d) = (\\d+))?, write");
    /** A column of a subtraction: the borrow it owes paid first, then its own digits, borrowing when below 0. */
    private static final Pattern COLUMN_STEP = Pattern.compile(
            "(?m)^(?:(\\d) - 1 (?:= (\\d)|is below 0, borrow: 10 - 1 = (9)), )?(\\d) - (\\d) (?:= (\\d)|is below 0, borrow: 1(\\d) - (\\d) = (\\d))\\.$");
    private static final Pattern COMPARISON = Pattern.compile("(?m)^Compare (\\d+) and (\\d+)(?: from the left)?: .*(?:so (\\d+) is larger|they are equal)\\.$");

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
                int product = Integer.parseInt(m.group(1)) * Integer.parseInt(m.group(2));
                assertThat(Integer.parseInt(m.group(3))).as(m.group()).isEqualTo(product);
                if (m.group(4) != null) {
                    assertThat(Integer.parseInt(m.group(4))).as(m.group()).isEqualTo(product);
                    assertThat(Integer.parseInt(m.group(6))).as(m.group()).isEqualTo(product + Integer.parseInt(m.group(5)));
                }
                steps++;
            }
            m = COLUMN_STEP.matcher(solution);
            int columns = 0;
            while (m.find()) {
                columns++;
                if (m.group(1) != null) {
                    int owed = Integer.parseInt(m.group(1));
                    assertThat(owed == 0 ? m.group(3) : m.group(2)).as(m.group()).isEqualTo(owed == 0 ? "9" : "" + (owed - 1));
                    assertThat(m.group(4)).as(m.group()).isEqualTo(owed == 0 ? "9" : "" + (owed - 1));
                }
                int d = Integer.parseInt(m.group(4));
                int e = Integer.parseInt(m.group(5));
                if (m.group(6) != null) {
                    assertThat(Integer.parseInt(m.group(6))).as(m.group()).isEqualTo(d - e).isNotNegative();
                } else {
                    assertThat(d).as(m.group()).isLessThan(e);
                    assertThat(m.group(7) + m.group(8)).as(m.group()).isEqualTo("" + d + e);
                    assertThat(Integer.parseInt(m.group(9))).as(m.group()).isEqualTo(10 + d - e);
                }
                steps++;
            }
            m = COMPARISON.matcher(solution);
            if (family == Family.SUBTRACTION) {
                assertThat(columns).as(solution).isEqualTo(Problem.digits(Math.max(p.a(), p.b())));
                assertThat(m.find()).as(solution).isTrue();
                long a = Long.parseLong(m.group(1));
                long b = Long.parseLong(m.group(2));
                assertThat(m.group(3) == null ? a == b : Long.parseLong(m.group(3)) == Math.max(a, b) && a != b)
                        .as(m.group()).isTrue();
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
        assertThat(subtract.solution()).contains("Compare 5000 and 1289 from the left: 5 > 1, so 5000 is larger.\n",
                "0 - 9 is below 0, borrow: 10 - 9 = 1.\n",
                "0 - 1 is below 0, borrow: 10 - 1 = 9, 9 - 8 = 1.\n", "5 - 1 = 4, 4 - 1 = 3.\n", "5000 - 1289 = 3711.");
        assertThat(new Problem(Family.SUBTRACTION, 679, 645, "").solution())
                .contains("Compare 679 and 645 from the left: 6 = 6, 7 > 4, so 679 is larger.\n");
        assertThat(new Problem(Family.SUBTRACTION, 707, 707, "").solution())
                .contains("Compare 707 and 707 from the left: 7 = 7, 0 = 0, 7 = 7, they are equal.\n", "707 - 707 = 0.");
        assertThat(new Problem(Family.SUBTRACTION, 1289, 5000, "").solution())
                .contains("so 5000 is larger.\nSubtract 1289 from 5000 and make it negative.\n",
                        "5000 - 1289 = 3711, so the result is -3711.", "1289 - 5000 = -3711.");
        Problem multiply = new Problem(Family.MULTIPLICATION_2X2, 23, 47, "Compute 23 × 47.");
        assertThat(multiply.solution()).contains("Split 47 into 40 + 7.", "3 × 7 = 21, write 1, carry 2.",
                "2 × 7 = 14, 14 + 2 = 16, write 16.", "So 23 × 7 = 161.", "So 23 × 40 = 920.", "161 + 920 = 1081",
                "23 × 47 = 1081.");
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
        assertThat(forms).contains("Subtract N from N.", "What is N - N?", "What is N minus N?",
                "what is N - N?", "Compute N-N.", "Calculate N - N", "N-N");
    }
}
