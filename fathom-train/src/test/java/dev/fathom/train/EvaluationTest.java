package dev.fathom.train;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** How sampled replies are scored and how scores are shown. */
class EvaluationTest {
    @Test
    void theMajorityIsTheMostFrequentAnswerAndRepliesWithoutOneDoNotVote() {
        assertThat(Evaluation.mostFrequent(Arrays.asList(3L, null, 5L, 5L, null, null))).isEqualTo(5L);
        assertThat(Evaluation.mostFrequent(Arrays.asList(7L, 3L, 3L, 7L))).as("a tie: the first to two votes").isEqualTo(3L);
        assertThat(Evaluation.mostFrequent(Arrays.asList(null, null))).isNull();
    }

    @Test
    void theTableHasAColumnPerMeasurePerModelAndARowPerBucket() {
        Map<String, List<Evaluation.Score>> models = new LinkedHashMap<>();
        models.put("fine-tuned", Evaluation.BUCKETS.stream().map(b -> new Evaluation.Score(b, 50, 40, 50, 330, 45, 49)).toList());
        models.put("final", Evaluation.BUCKETS.stream().map(b -> new Evaluation.Score(b, 50, 48, 50, 391, 49, 50)).toList());
        String table = Evaluation.table(models, 8);
        assertThat(table).startsWith("| bucket | fine-tuned: greedy pass@1 | fine-tuned: sampled pass@1 | fine-tuned: maj@8 |"
                + " fine-tuned: pass@8 | final: greedy pass@1 | final: sampled pass@1 | final: maj@8 | final: pass@8 |\n"
                + "|---|---|---|---|---|---|---|---|---|\n");
        assertThat(table).contains("| multiplication 2×2 | 80% (40/50) | 82.5% | 90% (45/50) | 98% (49/50) | 96% (48/50) | 97.8% | 98% (49/50)"
                + " | 100% (50/50) |");
        assertThat(table.lines()).hasSize(2 + Evaluation.BUCKETS.size());
        assertThat(Evaluation.table(Map.of("m", models.get("final")), 0)).startsWith("| bucket | greedy pass@1 |\n|---|---|\n");
    }
}
