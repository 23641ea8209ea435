#!/usr/bin/env node
// OpenAI's official Node SDK against a Fathom server, as an application would use it.
// Usage: node openai-client.mjs BASE_URL API_KEY
// Prints one JSON object: the model list, a whole reply, a streamed one (its deltas joined), a
// function call (whole, and streamed through the SDK's own accumulating helper) with its result
// sent back for the next turn, and an error.
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

const tools = [{
    type: "function",
    function: {
        name: "get_weather", description: "The weather in a city",
        parameters: {
            type: "object", additionalProperties: false, required: ["city", "unit"],
            properties: { city: { type: "string" }, unit: { enum: ["celsius", "fahrenheit"] } }
        }
    }
}];
const ask = [{ role: "user", content: "What is the weather in Paris?" }];
const called = await client.chat.completions.create({
    model: "deepseek-chat", messages: ask, tools, tool_choice: "required", temperature: 0, max_tokens: 64
});
// The SDK's stream helper rebuilds each call from its deltas, and throws on a malformed one.
const runner = client.chat.completions.stream({
    model: "deepseek-chat", messages: ask, tools, tool_choice: { type: "function", function: { name: "get_weather" } },
    temperature: 0, max_tokens: 64
});
const streamedCall = await runner.finalChatCompletion();
const call = called.choices[0].message.tool_calls[0];
const answered = await client.chat.completions.create({
    model: "deepseek-chat", temperature: 0, max_tokens: 8, tools,
    messages: [...ask, called.choices[0].message, { role: "tool", tool_call_id: call.id, content: "{\"celsius\": 21}" }]
});

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
    call: {
        finish: called.choices[0].finish_reason, name: call.function.name, arguments: JSON.parse(call.function.arguments),
        streamedName: streamedCall.choices[0].message.tool_calls[0].function.name,
        streamedArguments: JSON.parse(streamedCall.choices[0].message.tool_calls[0].function.arguments),
        answerFinish: answered.choices[0].finish_reason, answerPromptTokens: answered.usage.prompt_tokens,
        promptTokens: called.usage.prompt_tokens
    },
    error: status
}));
