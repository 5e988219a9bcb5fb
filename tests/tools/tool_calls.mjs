// Tool calling through the official `openai` npm client against a running
// triptych-gateway serving a random model with Qwen 2.5's chat template.
// Usage: node tool_calls.mjs BASE_URL MODEL LABEL [named]
// The model's text is noise: every valid call is the constraint's doing
// (tool_choice "required" / named) and the parser's. With `named` the
// "required" cases name a function instead (get_weather and get_time in
// turn): formats whose function name is outside the JSON (gpt-oss) refuse
// "required" with several tools, which is then checked to be a 400.
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const [baseURL, model, label, mode] = process.argv.slice(2);
const namedOnly = mode === 'named';
const requiredKind = namedOnly ? 'named (in turn)' : 'required';
// tool_choice for the "required" cases (see the usage above).
function requiredChoice(seed) {
  if (!namedOnly) return 'required';
  return { type: 'function', function: { name: seed % 2 ? 'get_weather' : 'get_time' } };
}
const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'unused', maxRetries: 0,
                            timeout: 120000 });

const tools = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Current weather for a city.',
      parameters: {
        type: 'object',
        properties: {
          location: { type: 'string', description: 'City name', maxLength: 12 },
          unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
        },
        required: ['location'],
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      description: 'Local time in a time zone.',
      parameters: {
        type: 'object',
        properties: { zone: { type: 'string', maxLength: 8 } },
        required: ['zone'],
      },
    },
  },
];
const question = [{ role: 'user', content: 'What is the weather in Paris?' }];

let failures = 0;
let calls = 0;
async function check(name, fn) {
  try {
    await fn();
    console.log(`ok   ${label}: ${name}`);
  } catch (e) {
    failures++;
    console.error(`FAIL ${label}: ${name}: ${e.stack || e}`);
  }
}

// A call valid for its tool: a declared name, arguments a JSON object with
// the required properties of the right types.
function assertValidCall(call, only) {
  assert.equal(call.type, 'function');
  assert.ok(typeof call.id === 'string' && call.id.length > 0, JSON.stringify(call));
  const names = tools.map((t) => t.function.name);
  assert.ok(names.includes(call.function.name), JSON.stringify(call));
  if (only) assert.equal(call.function.name, only);
  const args = JSON.parse(call.function.arguments);
  assert.equal(typeof args, 'object');
  if (call.function.name === 'get_weather') {
    assert.equal(typeof args.location, 'string');
    assert.ok(args.location.length <= 12);
    if ('unit' in args) assert.ok(['celsius', 'fahrenheit'].includes(args.unit));
  } else {
    assert.equal(typeof args.zone, 'string');
  }
  calls++;
  return args;
}

async function roundTrip(message) {
  // The follow-up: the assistant's tool calls and each call's result.
  const messages = [...question, message];
  for (const call of message.tool_calls) {
    messages.push({ role: 'tool', tool_call_id: call.id, content: '{"temperature": 18}' });
  }
  const r = await client.chat.completions.create({
    model, messages, tools, max_tokens: 8, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.ok(r.usage.prompt_tokens > 0);
  return r;
}

for (let seed = 1; seed <= 5; seed++) {
  await check(`${requiredKind}, non-streaming, seed ${seed}`, async () => {
    const r = await client.chat.completions.create({
      model, messages: question, tools, tool_choice: requiredChoice(seed), max_tokens: 200,
      temperature: 1, seed,
    });
    const choice = r.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls', JSON.stringify(choice));
    assert.ok(choice.message.tool_calls.length >= 1);
    for (const call of choice.message.tool_calls) assertValidCall(call);
    await roundTrip(choice.message);
  });
}

await check('named function, non-streaming', async () => {
  const r = await client.chat.completions.create({
    model, messages: question, tools, max_tokens: 200, temperature: 1, seed: 9,
    tool_choice: { type: 'function', function: { name: 'get_time' } },
  });
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(r.choices[0].message.tool_calls.length, 1);
  assertValidCall(r.choices[0].message.tool_calls[0], 'get_time');
});

for (let seed = 1; seed <= 3; seed++) {
  await check(`${requiredKind}, streaming, seed ${seed}`, async () => {
    const stream = await client.chat.completions.create({
      model, messages: question, tools, tool_choice: requiredChoice(seed), max_tokens: 200,
      temperature: 1, seed, stream: true,
    });
    const byIndex = [];
    let content = '';
    let finish = null;
    for await (const chunk of stream) {
      const choice = chunk.choices[0];
      if (!choice) continue;
      content += choice.delta?.content ?? '';
      for (const d of choice.delta?.tool_calls ?? []) {
        const acc = byIndex[d.index] ??= { id: '', type: '', function: { name: '', arguments: '' } };
        if (d.id) acc.id = d.id;
        if (d.type) acc.type = d.type;
        acc.function.name += d.function?.name ?? '';
        acc.function.arguments += d.function?.arguments ?? '';
      }
      if (choice.finish_reason) finish = choice.finish_reason;
    }
    assert.equal(finish, 'tool_calls');
    assert.ok(byIndex.length >= 1);
    for (const call of byIndex) assertValidCall(call);
    assert.ok(!content.includes('<tool_call>'), content);
    await roundTrip({ role: 'assistant', content: content || null, tool_calls: byIndex });
  });
}

await check('auto: text or valid calls', async () => {
  const r = await client.chat.completions.create({
    model, messages: question, tools, max_tokens: 16, temperature: 0,
  });
  const m = r.choices[0].message;
  if (r.choices[0].finish_reason === 'tool_calls') {
    for (const call of m.tool_calls) assertValidCall(call);
  } else {
    assert.equal(typeof m.content, 'string');
  }
});

if (namedOnly) {
  await check('"required" with several tools is a 400', async () => {
    await assert.rejects(
      client.chat.completions.create({
        model, messages: question, tools, max_tokens: 4, tool_choice: 'required',
      }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'tool_choice',
    );
  });
}

await check('unknown function in tool_choice is a 400', async () => {
  await assert.rejects(
    client.chat.completions.create({
      model, messages: question, tools, max_tokens: 4,
      tool_choice: { type: 'function', function: { name: 'nope' } },
    }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'tool_choice',
  );
  // ... and the server keeps serving.
  const r = await client.chat.completions.create({ model, messages: question, max_tokens: 2 });
  assert.equal(r.object, 'chat.completion');
});

console.log(`${label}: ${calls} valid tool calls, ${failures} failures`);
process.exitCode = failures === 0 ? 0 : 1;
