// Sends 100 chat requests (5 schemas x 20 seeds; every 4th streamed) with
// response_format json_schema to an OpenAI-compatible server and checks
// that every answer finishes with "stop", parses, and validates under its
// schema with ajv (an independent validator). Then checks that bad input
// (malformed schema, unsupported keyword, logit_bias out of range or
// outside the vocabulary) gets a 400 with an OpenAI error body and that the
// server keeps serving.
// Usage: node validate.mjs BASE_URL MODEL LABEL
import Ajv from "ajv";

const [base, model, label] = process.argv.slice(2);
const ajv = new Ajv({ strict: false, allErrors: true });

const schemas = {
  person: {
    type: "object",
    properties: {
      name: { type: "string", minLength: 1, maxLength: 12 },
      age: { type: "integer" },
      email: { type: "string", pattern: "^[a-z]{1,8}@[a-z]{1,8}\\.(com|org)$" },
    },
    required: ["name", "age"],
    additionalProperties: false,
  },
  status: {
    type: "object",
    properties: {
      status: { enum: ["ok", "error", "pending"] },
      code: { anyOf: [{ type: "integer" }, { type: "null" }] },
      version: { const: "v1" },
    },
    required: ["status", "code", "version"],
    additionalProperties: false,
  },
  lists: {
    type: "object",
    properties: {
      tags: { type: "array", items: { type: "string", maxLength: 6 }, minItems: 1, maxItems: 4 },
      scores: { type: "array", items: { type: "number" }, maxItems: 3 },
    },
    required: ["tags"],
  },
  linked: {
    $defs: {
      node: {
        type: "object",
        properties: {
          value: { type: "integer" },
          next: { anyOf: [{ $ref: "#/$defs/node" }, { type: "null" }] },
        },
        required: ["value", "next"],
        additionalProperties: false,
      },
    },
    $ref: "#/$defs/node",
  },
  shape: {
    type: "object",
    properties: {
      point: {
        type: "object",
        properties: { x: { type: "number" }, y: { type: "number" } },
        required: ["x", "y"],
        additionalProperties: false,
      },
      visible: { type: "boolean" },
      label: { type: ["string", "null"], maxLength: 10 },
    },
    required: ["point", "visible"],
    additionalProperties: false,
  },
};

async function post(body) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return r;
}

function request(name, seed, stream) {
  return {
    model,
    messages: [{ role: "user", content: `Describe a ${name} as JSON.` }],
    max_tokens: 600,
    temperature: 1.0,
    seed,
    stream,
    response_format: {
      type: "json_schema",
      json_schema: { name, schema: schemas[name], strict: true },
    },
  };
}

async function generate(name, seed) {
  const stream = seed % 4 === 3;
  const r = await post(request(name, seed, stream));
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${await r.text()}`);
  if (!stream) {
    const j = await r.json();
    return { content: j.choices[0].message.content, finish: j.choices[0].finish_reason };
  }
  let content = "";
  let finish = null;
  for (const line of (await r.text()).split("\n")) {
    if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
    const c = JSON.parse(line.slice(6)).choices[0];
    if (c?.delta?.content) content += c.delta.content;
    if (c?.finish_reason) finish = c.finish_reason;
  }
  return { content, finish };
}

const failures = [];
let valid = 0;
let tokens = 0;
const jobs = [];
for (const name of Object.keys(schemas)) {
  const validate = ajv.compile(schemas[name]);
  for (let seed = 0; seed < 20; ++seed) {
    jobs.push(async () => {
      try {
        const { content, finish } = await generate(name, 1000 + seed);
        tokens += content.length;
        if (finish !== "stop") throw new Error(`finish_reason ${finish}: ${content}`);
        const value = JSON.parse(content);
        if (!validate(value)) throw new Error(`${JSON.stringify(validate.errors)}: ${content}`);
        ++valid;
      } catch (e) {
        failures.push(`${name} seed ${seed}: ${e.message}`);
      }
    });
  }
}
// A few requests at a time, as clients do.
const width = 8;
for (let i = 0; i < jobs.length; i += width) {
  await Promise.all(jobs.slice(i, i + width).map((f) => f()));
}

async function expect400(what, body, needle) {
  const r = await post(body);
  const text = await r.text();
  let j = null;
  try { j = JSON.parse(text); } catch { }
  if (r.status !== 400 || !j?.error?.message || j.error.type !== "invalid_request_error" ||
      !j.error.message.includes(needle)) {
    failures.push(`${what}: expected a 400 naming '${needle}', got ${r.status} ${text}`);
  }
}
const base_req = request("person", 1, false);
await expect400("malformed schema", { ...base_req, response_format: { type: "json_schema",
  json_schema: { name: "x", schema: { type: "object", properties: 5 } } } }, "properties");
await expect400("unsupported keyword", { ...base_req, response_format: { type: "json_schema",
  json_schema: { name: "x", schema: { type: "integer", minimum: 3 } } } }, "minimum");
await expect400("bias out of range", { ...base_req, logit_bias: { "5": 1000 } }, "logit_bias");
await expect400("bias outside the vocabulary", { ...base_req, logit_bias: { "99999999": 1 } },
  "logit_bias");
const after = await generate("status", 7);
try {
  if (!ajv.validate(schemas.status, JSON.parse(after.content))) throw new Error(after.content);
} catch (e) {
  failures.push(`request after bad input: ${e.message}`);
}

for (const f of failures) console.log(`FAIL ${label}: ${f}`);
console.log(`${label}: ${valid}/${jobs.length} outputs valid under their schema ` +
            `(${tokens} characters), ${failures.length} failures`);
process.exit(failures.length === 0 ? 0 : 1);
