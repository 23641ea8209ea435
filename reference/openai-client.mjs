#!/usr/bin/env node
// OpenAI's official Node SDK against a Fathom server, as an application would use it.
// Usage: node openai-client.mjs BASE_URL API_KEY
// Prints one JSON object: the model list, a whole reply, and a streamed one (its deltas joined).
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60_000 });
const messages = [
    { role: "system", content: "You are terse." },
    { role: "user", content: "What is 2 + 2?" }
];

const models = await client.models.list();
const whole = await client.chat.completions.create({ model: "deepseek-reasoner", messages, temperature: 0, max_tokens: 16 });

const stream = await client.chat.completions.create({
    model: "deepseek-reasoner", messages, temperature: 0, max_tokens: 16, stream: true,
    stream_options: { include_usage: true }
});
let content = "", reasoning = "", finish = null, usage = null, chunks = 0;
for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
        content += choice.delta.content ?? "";
        reasoning += choice.delta.reasoning_content ?? "";
        finish = choice.finish_reason ?? finish;
    }
}

let status = null;
try {
    await client.chat.completions.create({ model: "x", messages: [], max_tokens: 4 });
} catch (e) {
    status = { status: e.status, message: e.error?.message ?? e.message };
}

console.log(JSON.stringify({
    models: models.data.map((m) => m.id),
    whole: {
        content: whole.choices[0].message.content,
        reasoning: whole.choices[0].message.reasoning_content,
        finish: whole.choices[0].finish_reason,
        usage: whole.usage
    },
    streamed: { content, reasoning, finish, usage, chunks },
    error: status
}));
