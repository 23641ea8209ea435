package dev.fathom.cli;

import static dev.fathom.cli.CommandsTest.MODEL;
import static dev.fathom.cli.CommandsTest.fathom;
import static org.assertj.core.api.Assertions.assertThat;

import dev.fathom.cli.CommandsTest.Outcome;
import dev.fathom.model.gguf.GgufType;
import dev.fathom.model.gguf.GgufValue;
import dev.fathom.model.testing.GgufEdit;
import dev.fathom.tensor.GgmlType;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Each kind of bad input ends with one line on stderr that names the problem (and the file and
 * offset where it applies), a non-zero exit, and no stack trace unless --verbose.
 */
class BadInputTest {
    @TempDir
    Path dir;

    private static void assertOneLineError(Outcome r, String... fragments) {
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip().lines()).hasSize(1);
        assertThat(r.err()).startsWith("error: ").doesNotContain("\tat ").doesNotContain("Exception");
        for (String f : fragments) {
            assertThat(r.err()).contains(f);
        }
        assertThat(r.out()).isEmpty();
    }

    @Test
    void draftsFromAModelWithoutAnMtpLayer() {
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-p", "hi", "--mtp"),
                MODEL + ": this model has no multi-token-prediction layer");
        assertOneLineError(fathom("bench", "-m", MODEL.toString(), "-p", "0", "-n", "2", "-r", "1", "--mtp"),
                "no multi-token-prediction layer");
    }

    @Test
    void aMissingFile() {
        Path missing = dir.resolve("nope.gguf");
        assertOneLineError(fathom("run", "-m", missing.toString(), "-p", "hi"), missing + ": no such file");
        assertOneLineError(fathom("inspect", missing.toString()), "no such file");
    }

    @Test
    void aDirectoryThatIsNotACheckpoint() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertOneLineError(fathom("run", "-m", empty.toString(), "-p", "hi"),
                empty + ": a directory, but not a Hugging Face checkpoint: it has no config.json");
        assertOneLineError(fathom("convert", MODEL.toString(), dir.resolve("x.gguf").toString()),
                MODEL + ": not a directory (convert reads a Hugging Face checkpoint directory; for a GGUF file, use quantize)");
    }

    @Test
    void serveWithAModelThatCannotLoadStopsWithTheReason() {
        Path missing = dir.resolve("nope.gguf");
        Outcome r = fathom("serve", "-m", missing.toString(), "--port", "0");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip().lines().toList().getLast()).isEqualTo("error: " + missing + ": no such file");
        assertOneLineError(fathom("serve", "-m", MODEL.toString(), "--parallel", "0"), "--parallel must be at least 1");
        Path nowhere = dir.resolve("no-such-dir");
        assertOneLineError(fathom("serve", "-m", MODEL.toString(), "--cache-disk", "64", "--cache-dir", nowhere.toString()),
                "--cache-dir " + nowhere + " is not a directory this process may write to");
    }

    @Test
    void aFileThatIsNotGguf() throws IOException {
        Path text = Files.writeString(dir.resolve("notes.txt"), "just some text");
        assertOneLineError(fathom("run", "-m", text.toString(), "-p", "hi"), text + ": not a GGUF file",
                "6a 75 73 74");
    }

    @Test
    void aTruncatedFileNamesTheOffsetOrTheTensor() throws IOException {
        byte[] whole = Files.readAllBytes(MODEL);
        Path header = Files.write(dir.resolve("header.gguf"), Arrays.copyOf(whole, 100));
        assertOneLineError(fathom("run", "-m", header.toString(), "-p", "hi"), header + ": truncated at byte");
        Path data = Files.write(dir.resolve("data.gguf"), Arrays.copyOf(whole, whole.length - 1000));
        assertOneLineError(fathom("tokenize", "-m", data.toString(), "-p", "hi"), data + ": tensor ",
                "the file is truncated");
    }

    @Test
    void anUnknownArchitecture() {
        Path file = new GgufEdit().set("general.architecture", GgufValue.of(GgufType.STRING, "mamba"))
                .apply(MODEL, dir.resolve("mamba.gguf"));
        assertOneLineError(fathom("run", "-m", file.toString(), "-p", "hi"), "unknown architecture 'mamba'");
    }

    @Test
    void anUnsupportedTensorType() {
        Path file = new GgufEdit().retype("blk.0.attn_q.weight", GgmlType.IQ2_XXS).apply(MODEL, dir.resolve("iq.gguf"));
        assertOneLineError(fathom("run", "-m", file.toString(), "-p", "hi"),
                "tensor blk.0.attn_q.weight has type IQ2_XXS, which Fathom does not support");
    }

    @Test
    void aPromptLongerThanTheContext() {
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "--ctx", "16", "-p", "word ".repeat(40)),
                "the sequence needs", "but the context holds 16", "--ctx");
    }

    @Test
    void outOfRangeOptions() {
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-p", "hi", "--top-p", "2"), "top-p must be in [0, 1]");
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-p", "hi", "--cache-type", "q4"),
                "unknown KV cache type 'q4'");
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-f", dir.resolve("none.txt").toString()),
                "no such prompt file");
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-f", dir.toString()), dir + ": is a directory");
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-p", "hi", "--system", "Be brief"),
                "--system needs --chat");
        assertOneLineError(fathom("run", "-m", MODEL.toString(), "-p", "hi", "--ctx", "-1"), "--ctx must be 0");
    }

    @Test
    void malformedUtf8InAPromptFileIsTokenizedNotRefused() throws IOException {
        // 0xF4 0x90 0x80 0x80 would decode beyond U+10FFFF, 0xFF is no UTF-8 at all
        Path prompt = Files.write(dir.resolve("bytes.txt"), new byte[] {'a', (byte) 0xF4, (byte) 0x90, (byte) 0x80,
            (byte) 0x80, 'b', (byte) 0xFF});
        Outcome r = fathom("tokenize", "-m", MODEL.toString(), "-f", prompt.toString());
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("'a'").contains("'b'");
    }

    @Test
    void usageMistakesShowTheUsage() {
        Outcome r = fathom("run", "-m", MODEL.toString());
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("Missing required argument").contains("--prompt");
    }

    @Test
    void verboseAddsTheStackTrace() {
        Outcome r = fathom("run", "-m", dir.resolve("nope.gguf").toString(), "-p", "hi", "--verbose");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).startsWith("error: ").contains("\tat dev.fathom");
    }
}
