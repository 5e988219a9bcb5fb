// The official `openai` npm client against a running triptych-gateway
// (--local, stories260K). Usage:
//   node openai_client_test.mjs BASE_URL API_KEY MODEL REFERENCE_JSONL
// Exits non-zero on the first failed check.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const [baseURL, apiKey, model, referencePath] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 60000 });

const reference = JSON.parse(readFileSync(referencePath, 'utf8').split('\n')[0]);
assert.equal(reference.prompt, 'Once upon a time');
const expected = reference.output.slice(reference.prompt.length);

async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${name}`);
  } catch (e) {
    console.error(`FAIL ${name}: ${e.stack || e}`);
    process.exitCode = 1;
  }
}

await check('models.list', async () => {
  const models = await client.models.list();
  assert.ok(models.data.some((m) => m.id === model), JSON.stringify(models.data));
});

await check('completions (greedy = reference)', async () => {
  const r = await client.completions.create({
    model, prompt: reference.prompt, max_tokens: reference.n_predict, temperature: 0,
  });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].text, expected);
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, reference.n_predict);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
});

await check('completions stream', async () => {
  const stream = await client.completions.create({
    model, prompt: reference.prompt, max_tokens: reference.n_predict, temperature: 0,
    stream: true,
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
  assert.equal(text, expected);
});

let chatAnswer = '';
await check('chat.completions', async () => {
  const r = await client.chat.completions.create({
    model, max_tokens: 24, temperature: 0, seed: 1,
    messages: [{ role: 'system', content: 'You tell stories.' },
               { role: 'user', content: 'Tell me about Lily.' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.id.startsWith('chatcmpl-'));
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 24);
  chatAnswer = r.choices[0].message.content;
});

await check('chat.completions stream with usage', async () => {
  const stream = await client.chat.completions.create({
    model, max_tokens: 24, temperature: 0, seed: 1, stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'system', content: 'You tell stories.' },
               { role: 'user', content: 'Tell me about Lily.' }],
  });
  let text = '';
  let role = null;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    role ??= choice.delta.role ?? null;
    text += choice.delta.content ?? '';
    finish ??= choice.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, chatAnswer);
  assert.ok(['stop', 'length'].includes(finish));
  assert.ok(usage && usage.completion_tokens > 0);
});

await check('n=2 gives two indexed choices, streamed too; n above --max-n is a 400', async () => {
  const messages = [{ role: 'user', content: 'x' }];
  const two = await client.chat.completions.create(
    { model, n: 2, messages, max_tokens: 8, temperature: 0 });
  assert.deepEqual(two.choices.map((c) => c.index), [0, 1]);
  assert.equal(two.choices[0].message.content, two.choices[1].message.content);
  const stream = await client.chat.completions.create(
    { model, n: 2, messages, max_tokens: 8, temperature: 0, stream: true });
  const texts = ['', ''];
  for await (const chunk of stream) {
    for (const c of chunk.choices) texts[c.index] += c.delta.content ?? '';
  }
  assert.deepEqual(texts, two.choices.map((c) => c.message.content));
  await assert.rejects(
    client.chat.completions.create({ model, n: 9, messages }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'n');
});

await check('wrong API key is a 401 AuthenticationError', async () => {
  const other = new OpenAI({ baseURL, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(other.models.list(),
                       (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
});
