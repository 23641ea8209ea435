package dev.fathom.serve;

import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.model.Model;
import dev.fathom.model.arch.KvCache;
import dev.fathom.model.testing.LlamaCpp;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.json.JsonMapper;

/**
 * The web chat in a real browser (headless Chromium driven by playwright-core): a reply with
 * "Deep think" on shows its reasoning in the collapsible block, one with it off shows an answer,
 * both with tokens/s; Stop ends a streaming reply; after a reload the conversations are still
 * there. The screenshot is kept in {@code target/webchat.png}.
 */
class WebChatTest {
    @TempDir
    Path dir;

    @Test
    void aConversationInTheBrowser() throws Exception {
        Path model = ServeTestModels.twoModes(dir);
        Path screenshot = Path.of("target/webchat.png").toAbsolutePath();
        Files.createDirectories(screenshot.getParent());
        try (Server server = Server.start(new Server.Options("127.0.0.1", 0, 2, 384, 64, 4, KvCache.Type.F16, null, 64L << 20, null, 0))) {
            server.serve(Model.open(model, 2), "fathom-web");
            Process node = new ProcessBuilder("node", LlamaCpp.referenceDir().resolve("webchat.mjs").toString(),
                    "http://127.0.0.1:" + server.port() + "/", screenshot.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            String out = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(node.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(node.exitValue()).as(out).isZero();
            JsonNode r = JsonMapper.builder().build().readTree(out);
            assertThat(r.get("model").asString()).isEqualTo("fathom-web");
            assertThat(r.get("thinking").get("reasoning").asString()).isNotEmpty();
            assertThat(r.get("thinking").get("stats").asString()).matches("\\d+ tokens, [\\d.]+ tokens/s, first token after .*");
            assertThat(r.get("direct").get("reasoning").isNull()).isTrue();
            assertThat(r.get("direct").get("answer").asString()).isNotEmpty();
            assertThat(r.get("direct").get("copy").asString()).isEqualTo("Copy");
            assertThat(r.get("stopped").asString()).isEqualTo("Stopped.");
            assertThat(r.get("conversations").asInt()).isEqualTo(2);
            assertThat(r.get("messages").asInt()).isEqualTo(4);
            assertThat(r.get("reasoningAfterReload").asInt()).isEqualTo(1);
            assertThat(screenshot).isNotEmptyFile();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (server.busySlots() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(server.busySlots()).as("the stopped reply's slot").isZero();
        }
    }
}
