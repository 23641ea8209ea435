package dev.fathom.serve;

import dev.fathom.serve.Scheduler.Outcome;
import java.util.concurrent.atomic.LongAdder;

/**
 * The server's counters, in Prometheus' text format at {@code /metrics}, named after
 * llama.cpp's server metrics so that existing dashboards carry over.
 */
final class Metrics {
    private final LongAdder requests = new LongAdder();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder cachedTokens = new LongAdder();
    private final LongAdder promptNanos = new LongAdder();
    private final LongAdder predictedTokens = new LongAdder();
    private final LongAdder predictedNanos = new LongAdder();

    /** Counts a finished reply. */
    void record(Outcome o) {
        requests.increment();
        promptTokens.add(o.promptTokens());
        cachedTokens.add(o.cachedTokens());
        promptNanos.add(o.promptNanos());
        predictedTokens.add(o.tokens().length);
        predictedNanos.add(o.generationNanos());
    }

    /** The exposition text, with the scheduler's gauges as they are now. */
    String render(Scheduler scheduler) {
        StringBuilder out = new StringBuilder();
        counter(out, "fathom_requests_total", "Replies finished.", requests.sum());
        counter(out, "fathom_prompt_tokens_total", "Prompt tokens, read or found in the cache.", promptTokens.sum());
        counter(out, "fathom_prompt_cache_hit_tokens_total", "Prompt tokens found in a slot's cache.", cachedTokens.sum());
        counter(out, "fathom_prompt_seconds_total", "Time spent reading prompts.", promptNanos.sum() / 1e9);
        counter(out, "fathom_tokens_predicted_total", "Tokens generated.", predictedTokens.sum());
        counter(out, "fathom_tokens_predicted_seconds_total", "Time spent generating.", predictedNanos.sum() / 1e9);
        gauge(out, "fathom_requests_processing", "Replies being generated or reading their prompt.", scheduler.busy());
        gauge(out, "fathom_requests_deferred", "Requests waiting for a free slot.", scheduler.waiting());
        gauge(out, "fathom_slots", "Replies that can be generated at once.", scheduler.slots());
        gauge(out, "fathom_kv_cache_usage_ratio", "Share of the KV cache's positions holding tokens.", scheduler.cacheUsage());
        return out.toString();
    }

    private static void counter(StringBuilder out, String name, String help, double value) {
        metric(out, name, "counter", help, value);
    }

    private static void gauge(StringBuilder out, String name, String help, double value) {
        metric(out, name, "gauge", help, value);
    }

    private static void metric(StringBuilder out, String name, String type, String help, double value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
        out.append(name).append(' ').append(value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value))
                .append('\n');
    }
}
