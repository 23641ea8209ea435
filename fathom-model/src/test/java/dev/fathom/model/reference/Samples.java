package dev.fathom.model.reference;

import java.util.List;

/** Texts that exercise a tokenizer: scripts, code, emoji, numbers, whitespace, special tokens. */
final class Samples {
    private Samples() {
    }

    static final List<String> TEXTS = List.of(
            "Hello, world! How's it going? I'm fine; they're here, we've got it, you'd know, she'll see.",
            "深度求索（DeepSeek）是一家中国人工智能公司。你好，世界！今天天气很好。",
            "日本語のテキストとカタカナ、ひらがな。한국어 텍스트도 있습니다.",
            "Ünïcödé: naïve café, Straße, Ελληνικά γράμματα, Русский текст, עברית, العربية, हिन्दी.",
            "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\nprint([fib(i) for i in range(10)])\n",
            "for (int i = 0; i < n; i++) { sum += a[i] * b[i]; } // C-style\r\n#include <stdio.h>",
            "emoji 🐋🚀👩‍👩‍👧 flags 🇨🇳🇺🇸 and ❤️‍🔥 mixed with text😀!",
            "numbers 1234567890 3.14159 1,000,000 -42 0x1F 2024-11-23 12:30:45 ½ ² ٣٤٥",
            "whitespace:   three spaces\t\ttabs\n\n\nnewlines  \n trailing   ",
            "  leading spaces, NBSP\u00a0here, ideographic\u3000space, zero\u200bwidth, BOM\ufeffin text",
            "<｜User｜>What is 2+2?<｜Assistant｜><think>\nTwo plus two is four.\n</think>\n\nThe answer is 4.<｜end▁of▁sentence｜>",
            "<|im_start|>user\nhi<|im_end|> <|begin_of_text|> [PAD151700] <tool_call>",
            "Mixed-CASE contractions: IT'S, We'RE, they'VE, don'T, I'M, You'LL, she'D.",
            "a",
            " ",
            "\n",
            "");
}
