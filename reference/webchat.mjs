#!/usr/bin/env node
// Drives Fathom's web chat in headless Chromium (Debian's /usr/bin/chromium) with playwright-core.
// Usage: node webchat.mjs URL SCREENSHOT.png
// Asks a question with "Deep think" on and one with it off, stops a third reply, reloads, and
// prints what a user would have seen as one JSON object.
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
try {
    const page = await browser.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById("model").textContent !== "…");
    const model = await page.textContent("#model");

    async function ask(text) {
        const before = await page.locator(".message.assistant .stats").count();
        await page.fill("#input", text);
        await page.press("#input", "Enter");
        await page.waitForFunction((n) => document.querySelectorAll(".message.assistant .stats").length > n, before,
            { timeout: 60_000 });
        return page.evaluate(() => {
            const a = [...document.querySelectorAll(".message.assistant")].pop();
            const details = a.querySelector("details.reasoning");
            return {
                reasoning: details.hidden ? null : details.querySelector(".text").textContent,
                answer: a.querySelector(".answer").textContent,
                stats: a.querySelector(".stats").textContent,
                copy: a.querySelector(".meta button")?.textContent ?? null
            };
        });
    }

    const thinking = await ask("What is 2 + 2?");
    await page.uncheck("#think");
    const direct = await ask("And 3 + 3?");

    // A third question, stopped while it streams.
    await page.click("#new");
    await page.fill("#input", "Tell me a very long story.");
    await page.press("#input", "Enter");
    await page.waitForFunction(() => {
        const a = [...document.querySelectorAll(".message.assistant")].pop();
        return a && a.querySelector(".answer").textContent.length > 0;
    }, null, { timeout: 60_000 });
    await page.click("#stop");
    await page.waitForSelector(".message.assistant .meta .error", { timeout: 10_000 });
    const stopped = await page.textContent(".message.assistant .meta .error");

    await page.reload();
    await page.waitForSelector("#conversations li");
    const conversations = await page.locator("#conversations li").count();
    await page.locator("#conversations li").last().click();
    const messages = await page.locator(".message").count();
    const reasoningAfterReload = await page.locator("details.reasoning:not([hidden])").count();
    await page.screenshot({ path: screenshot, fullPage: true });
    console.log(JSON.stringify({ model, thinking, direct, stopped, conversations, messages, reasoningAfterReload }));
} finally {
    await browser.close();
}
