// Offline validation of Triptych's Kubernetes manifests (deploy/k8s).
//
//   node validate.mjs                  validate everything under ../k8s
//   node validate.mjs --root DIR       ... under DIR
//   node validate.mjs FILE_OR_DIR...   only these manifests / kustomization dirs
//   kubectl kustomize DIR | node validate.mjs --stdin NAME
//
// Checks, all without a cluster:
//  1. every YAML document parses (duplicate keys are errors);
//  2. every Kubernetes object validates against the OpenAPI schemas of the
//     `kubernetes-models` package (types, required fields, enums, formats),
//     by constructing the class for its apiVersion/kind and calling
//     .validate();
//  3. no unknown fields (what `kubectl apply` rejects under its default strict
//     field validation): the schema validator is run over a proxy that records
//     which properties it reads; a property it never looked at is unknown;
//  4. every kustomization.yaml: known keys only, and every file or directory
//     it references exists;
//  5. every kustomization is rendered (resources, strategic-merge patches,
//     images, namespace, labels: the subset these overlays use) and each
//     rendered object is validated as in 2-3, so a patch is checked in the
//     object it lands in; a patch must hit an object;
//  6. in each rendering: workload references resolve (ConfigMaps, Secrets,
//     PVCs, Services' selectors and named target ports, StatefulSets'
//     serviceName, the HPA's target, PDB selectors).
// Exits 1 with one line per problem, 0 when clean.

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const errors = [];
const fail = (where, msg) => errors.push(`${where}: ${msg}`);

// ---------------------------------------------------------------- loading

function loadDocs(file, text = fs.readFileSync(file, "utf8")) {
  const docs = [];
  YAML.parseAllDocuments(text, { uniqueKeys: true }).forEach((doc, i) => {
    for (const e of [...doc.errors, ...doc.warnings]) {
      fail(`${file} doc ${i + 1}`, `YAML: ${e.message.split("\n")[0]}`);
    }
    if (doc.errors.length) return;
    const value = doc.toJS({ maxAliasCount: 100 });
    if (value !== null && value !== undefined) docs.push({ value, where: `${file} doc ${i + 1}` });
  });
  return docs;
}

const isKustomization = (v) =>
  v && typeof v === "object" &&
  (v.kind === "Kustomization" || v.kind === "Component" ||
   String(v.apiVersion || "").startsWith("kustomize.config.k8s.io/"));

const kustomizationFile = (dir) =>
  ["kustomization.yaml", "kustomization.yml", "Kustomization"]
    .map((n) => path.join(dir, n)).find((p) => fs.existsSync(p));

// ------------------------------------------------------- schema validation

const modelCache = new Map();
async function modelClass(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  const spec = apiVersion.includes("/") ? apiVersion : `v1`;  // core group: "v1"
  if (!/^[a-z0-9.-]+(\/[a-z0-9]+)?$/.test(spec)) return null;
  if (!modelCache.has(spec)) {
    let mod = null;
    try {
      mod = await import(`kubernetes-models/${spec}`);
    } catch {
      mod = null;
    }
    modelCache.set(spec, mod);
  }
  const mod = modelCache.get(spec);
  return mod && typeof mod[kind] === "function" ? mod[kind] : null;
}

function errorLines(err) {
  if (Array.isArray(err.errors)) {
    return err.errors.map((e) => {
      const extra = e.params && e.params.missingProperty ? ` '${e.params.missingProperty}'`
        : e.params && e.params.allowedValues ? ` (${e.params.allowedValues.join(", ")})` : "";
      return `${e.instancePath || "/"} ${e.message}${extra}`;
    });
  }
  return [String(err.message || err)];
}

// Wraps `value` so that the properties the schema validator reads are
// recorded; objects the validator enumerates (maps such as labels or data)
// accept any key.
function tracked(value, at, records) {
  if (Array.isArray(value)) return value.map((v, i) => tracked(v, `${at}/${i}`, records));
  if (value === null || typeof value !== "object") return value;
  const rec = { at, keys: Object.keys(value), used: new Set(), enumerated: false };
  records.push(rec);
  const copy = {};
  for (const k of rec.keys) copy[k] = tracked(value[k], `${at}/${k}`, records);
  return new Proxy(copy, {
    get(t, p, r) { if (typeof p === "string") rec.used.add(p); return Reflect.get(t, p, r); },
    has(t, p) { if (typeof p === "string") rec.used.add(p); return Reflect.has(t, p); },
    ownKeys(t) { rec.enumerated = true; return Reflect.ownKeys(t); },
  });
}

async function validateObject(obj, where) {
  const label = `${where} (${obj.kind ?? "?"}/${obj.metadata?.name ?? "?"})`;
  const Cls = await modelClass(obj.apiVersion, obj.kind);
  if (!Cls) {
    fail(label, `unknown apiVersion/kind '${obj.apiVersion}' '${obj.kind}'`);
    return;
  }
  try {
    new Cls(obj).validate();
  } catch (err) {
    for (const line of errorLines(err)) fail(label, line);
    return;
  }
  const records = [];
  Cls.prototype.validate.call(tracked(obj, "", records));
  const unknown = [];  // report the outermost unknown field, not its contents
  for (const rec of records) {
    if (rec.enumerated || unknown.some((u) => rec.at === u || rec.at.startsWith(`${u}/`))) continue;
    for (const k of rec.keys) {
      if (rec.used.has(k)) continue;
      unknown.push(`${rec.at}/${k}`);
      fail(label, `${rec.at}/${k}: unknown field '${k}'`);
    }
  }
}

// ------------------------------------------------------------ kustomize

const KUSTOMIZATION_KEYS = new Set([
  "apiVersion", "kind", "metadata", "resources", "components", "patches",
  "patchesStrategicMerge", "patchesJson6902", "images", "namespace", "namePrefix",
  "nameSuffix", "labels", "commonLabels", "commonAnnotations", "configMapGenerator",
  "secretGenerator", "generatorOptions", "replicas", "replacements", "crds",
  "buildMetadata", "openapi", "sortOptions",
]);

function checkKustomization(file, k) {
  for (const key of Object.keys(k)) {
    if (!KUSTOMIZATION_KEYS.has(key)) fail(file, `unknown kustomization field '${key}'`);
  }
  const dir = path.dirname(file);
  const mustExist = (rel, what) => {
    if (typeof rel !== "string") { fail(file, `${what}: expected a path, got ${JSON.stringify(rel)}`); return; }
    if (/^[a-z]+:\/\//.test(rel)) { fail(file, `${what} '${rel}': remote references cannot be checked offline`); return; }
    const p = path.resolve(dir, rel);
    if (!fs.existsSync(p)) fail(file, `${what} '${rel}' does not exist`);
    else if (fs.statSync(p).isDirectory() && !kustomizationFile(p)) {
      fail(file, `${what} '${rel}' is a directory without a kustomization.yaml`);
    }
  };
  for (const r of k.resources ?? []) mustExist(r, "resource");
  for (const r of k.components ?? []) mustExist(r, "component");
  for (const p of k.patchesStrategicMerge ?? []) if (!String(p).includes("\n")) mustExist(p, "patch");
  for (const p of k.patches ?? []) {
    if (p && p.path !== undefined) mustExist(p.path, "patch");
    else if (!p || typeof p.patch !== "string") fail(file, "patch without 'path' or 'patch'");
  }
  for (const p of k.patchesJson6902 ?? []) if (p.path !== undefined) mustExist(p.path, "patch");
  for (const g of [...(k.configMapGenerator ?? []), ...(k.secretGenerator ?? [])]) {
    for (const f of g.files ?? []) mustExist(String(f).split("=").pop(), "generator file");
    for (const f of g.envs ?? []) mustExist(f, "generator env file");
  }
}

const clone = (v) => (v === undefined ? v : JSON.parse(JSON.stringify(v)));
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

// Strategic merge, reduced to what the overlays need: maps merge, `null`
// deletes, lists whose items all have a `name` merge by name, other lists
// are replaced.
function merge(base, patch) {
  if (isMap(base) && isMap(patch)) {
    const out = { ...base };
    for (const [k, v] of Object.entries(patch)) {
      if (k.startsWith("$")) continue;
      if (v === null) delete out[k];
      else out[k] = merge(base[k], v);
    }
    return out;
  }
  const named = (l) => Array.isArray(l) && l.every((x) => isMap(x) && typeof x.name === "string");
  if (named(base) && named(patch)) {
    const out = base.map(clone);
    for (const item of patch) {
      const i = out.findIndex((x) => x.name === item.name);
      if (i >= 0) out[i] = merge(out[i], item);
      else out.push(clone(item));
    }
    return out;
  }
  return clone(patch);
}

const CLUSTER_SCOPED = new Set([
  "Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass",
  "CustomResourceDefinition", "PriorityClass", "IngressClass", "RuntimeClass",
  "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
]);

function podSpecs(obj) {
  if (obj.kind === "Pod") return [obj.spec];
  if (obj.kind === "CronJob") return [obj.spec?.jobTemplate?.spec?.template?.spec];
  return [obj.spec?.template?.spec].filter(Boolean);
}

function render(dir, stack = []) {
  const file = kustomizationFile(dir);
  if (!file) { fail(dir, "no kustomization.yaml"); return []; }
  if (stack.includes(file)) { fail(file, "kustomization cycle"); return []; }
  const docs = loadDocs(file);
  if (docs.length !== 1) { fail(file, "expected exactly one YAML document"); return []; }
  const k = docs[0].value;
  checkKustomization(file, k);
  let objs = [];
  for (const r of k.resources ?? []) {
    const p = path.resolve(dir, String(r));
    if (!fs.existsSync(p)) continue;  // reported by checkKustomization
    if (fs.statSync(p).isDirectory()) objs.push(...render(p, [...stack, file]));
    else for (const d of loadDocs(p)) objs.push({ ...d, value: clone(d.value) });
  }
  for (const c of k.components ?? []) {
    fail(file, `component '${c}': components are not supported by this renderer`);
  }
  const patches = [];
  for (const p of k.patchesStrategicMerge ?? []) {
    patches.push(...(String(p).includes("\n")
      ? loadDocs(`${file} (inline patch)`, p) : loadDocs(path.resolve(dir, p))));
  }
  for (const p of k.patches ?? []) {
    if (!p) continue;
    const text = p.path !== undefined
      ? (fs.existsSync(path.resolve(dir, p.path)) ? fs.readFileSync(path.resolve(dir, p.path), "utf8") : null)
      : p.patch;
    if (typeof text !== "string") continue;
    for (const d of loadDocs(p.path ? path.resolve(dir, p.path) : `${file} (inline patch)`, text)) {
      patches.push({ ...d, target: p.target });
    }
  }
  if ((k.patchesJson6902 ?? []).length) fail(file, "patchesJson6902 is not supported by this renderer");
  for (const patch of patches) {
    const v = patch.value;
    if (Array.isArray(v)) { fail(patch.where, "JSON6902 patches are not supported by this renderer"); continue; }
    const t = patch.target ?? { kind: v.kind, name: v.metadata?.name, namespace: v.metadata?.namespace };
    const hits = objs.filter((o) =>
      (!t.kind || o.value.kind === t.kind) && (!t.name || o.value.metadata?.name === t.name) &&
      (!t.namespace || !o.value.metadata?.namespace || o.value.metadata.namespace === t.namespace));
    if (!hits.length) { fail(patch.where, `patch target ${t.kind}/${t.name} not found in ${dir}`); continue; }
    for (const o of hits) {
      o.value = merge(o.value, v);
      o.where = `${o.where} + ${path.relative(process.cwd(), patch.where)}`;
    }
  }
  for (const o of objs) {
    const v = o.value;
    if (!isMap(v)) continue;
    if (k.namespace && !CLUSTER_SCOPED.has(v.kind)) v.metadata = { ...v.metadata, namespace: k.namespace };
    const labels = { ...(k.commonLabels ?? {}) };
    for (const l of k.labels ?? []) Object.assign(labels, l.pairs ?? {});
    if (Object.keys(labels).length) v.metadata = { ...v.metadata, labels: { ...v.metadata?.labels, ...labels } };
    for (const spec of podSpecs(v)) {
      for (const c of [...(spec?.containers ?? []), ...(spec?.initContainers ?? [])]) {
        for (const img of k.images ?? []) {
          const m = /^(.*?)(?::([^:/@]+))?(?:@(.+))?$/.exec(String(c.image ?? ""));
          if (!m || m[1] !== img.name) continue;
          c.image = (img.newName ?? m[1]) +
            (img.digest ? `@${img.digest}` : img.newTag ? `:${img.newTag}` : m[2] ? `:${m[2]}` : "");
        }
      }
    }
  }
  return objs;
}

// ----------------------------------------------------- reference checks

const matches = (selector, labels) =>
  !!selector && Object.keys(selector).length > 0 &&
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

function checkReferences(objs, name) {
  const by = (kind) => objs.map((o) => o.value).filter((v) => isMap(v) && v.kind === kind);
  const names = (kind) => new Set(by(kind).map((v) => v.metadata?.name));
  const seen = new Set();
  for (const v of objs.map((o) => o.value)) {
    const id = `${v.kind}/${v.metadata?.namespace ?? ""}/${v.metadata?.name}`;
    if (seen.has(id)) fail(name, `duplicate object ${id}`);
    seen.add(id);
  }
  const workloads = objs.map((o) => o.value)
    .filter((v) => ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(v.kind));
  const cms = names("ConfigMap"), secrets = names("Secret"), pvcs = names("PersistentVolumeClaim");
  const services = by("Service");
  for (const w of workloads) {
    const at = `${name}: ${w.kind}/${w.metadata?.name}`;
    const podLabels = w.spec?.template?.metadata?.labels ?? {};
    if (w.spec?.selector?.matchLabels && !matches(w.spec.selector.matchLabels, podLabels)) {
      fail(at, "spec.selector does not match the pod template's labels");
    }
    const spec = w.spec?.template?.spec ?? {};
    const claimTemplates = new Set((w.spec?.volumeClaimTemplates ?? []).map((c) => c.metadata?.name));
    const volumes = new Set([...(spec.volumes ?? []).map((x) => x.name), ...claimTemplates]);
    for (const vol of spec.volumes ?? []) {
      if (vol.configMap && !vol.configMap.optional && !cms.has(vol.configMap.name)) fail(at, `volume '${vol.name}': ConfigMap '${vol.configMap.name}' not found`);
      if (vol.secret && !vol.secret.optional && !secrets.has(vol.secret.secretName)) fail(at, `volume '${vol.name}': Secret '${vol.secret.secretName}' not found`);
      if (vol.persistentVolumeClaim && !pvcs.has(vol.persistentVolumeClaim.claimName)) fail(at, `volume '${vol.name}': PersistentVolumeClaim '${vol.persistentVolumeClaim.claimName}' not found`);
    }
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      const ports = new Set((c.ports ?? []).map((p) => p.name).filter(Boolean));
      for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) fail(at, `container '${c.name}' mounts unknown volume '${m.name}'`);
      for (const e of c.env ?? []) {
        const s = e.valueFrom?.secretKeyRef, cm = e.valueFrom?.configMapKeyRef;
        if (s && !s.optional && !secrets.has(s.name)) fail(at, `env ${e.name}: Secret '${s.name}' not found`);
        if (cm && !cm.optional && !cms.has(cm.name)) fail(at, `env ${e.name}: ConfigMap '${cm.name}' not found`);
      }
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) {
        const port = c[probe]?.httpGet?.port ?? c[probe]?.tcpSocket?.port;
        if (typeof port === "string" && !ports.has(port)) fail(at, `container '${c.name}' ${probe}: no port named '${port}'`);
      }
    }
    if (w.kind === "StatefulSet") {
      const svc = services.find((s) => s.metadata?.name === w.spec?.serviceName);
      if (!svc) fail(at, `serviceName '${w.spec?.serviceName}': no such Service`);
      else if (svc.spec?.clusterIP !== "None") fail(at, `serviceName '${svc.metadata.name}' is not headless (clusterIP: None)`);
    }
  }
  for (const s of services) {
    const at = `${name}: Service/${s.metadata?.name}`;
    if (!s.spec?.selector) continue;
    const targets = workloads.filter((w) => matches(s.spec.selector, w.spec?.template?.metadata?.labels));
    if (!targets.length) { fail(at, "selector matches no workload"); continue; }
    for (const p of s.spec.ports ?? []) {
      if (typeof p.targetPort !== "string") continue;
      const ok = targets.some((w) => (w.spec.template.spec.containers ?? [])
        .some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort)));
      if (!ok) fail(at, `targetPort '${p.targetPort}' is no container port name of the selected pods`);
    }
  }
  for (const pdb of by("PodDisruptionBudget")) {
    if (!workloads.some((w) => matches(pdb.spec?.selector?.matchLabels, w.spec?.template?.metadata?.labels))) {
      fail(`${name}: PodDisruptionBudget/${pdb.metadata?.name}`, "selector matches no workload");
    }
  }
  for (const hpa of by("HorizontalPodAutoscaler")) {
    const ref = hpa.spec?.scaleTargetRef ?? {};
    if (!workloads.some((w) => w.kind === ref.kind && w.metadata?.name === ref.name)) {
      fail(`${name}: HorizontalPodAutoscaler/${hpa.metadata?.name}`, `scaleTargetRef ${ref.kind}/${ref.name} not found`);
    }
  }
}

// ------------------------------------------------------------------ main

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : walk(p);
    return /\.(ya?ml)$/.test(e.name) || e.name === "Kustomization" ? [p] : [];
  });
}

async function validateTree(inputs) {
  const files = inputs.flatMap((p) => (fs.statSync(p).isDirectory() ? walk(p) : [p]));
  const kdirs = [], patchFiles = new Set();
  // Kustomizations first: their patches are partial objects, checked in place.
  for (const f of files) {
    for (const d of loadDocs(f)) {
      if (!isKustomization(d.value)) continue;
      kdirs.push(path.dirname(f));
      const dir = path.dirname(f);
      for (const p of d.value.patches ?? []) if (p?.path) patchFiles.add(path.resolve(dir, p.path));
      for (const p of d.value.patchesStrategicMerge ?? []) patchFiles.add(path.resolve(dir, String(p)));
    }
  }
  let objects = 0;
  for (const f of files) {
    if (patchFiles.has(path.resolve(f))) continue;
    for (const d of loadDocs(f)) {
      if (isKustomization(d.value)) continue;
      if (!isMap(d.value)) { fail(d.where, "not a Kubernetes object"); continue; }
      await validateObject(d.value, d.where);
      objects++;
    }
  }
  for (const dir of kdirs) {
    const objs = render(dir);
    for (const o of objs) {
      if (isMap(o.value)) await validateObject(o.value, `${o.where} [rendered ${dir}]`);
      else fail(o.where, "not a Kubernetes object");
    }
    checkReferences(objs, `kustomization ${dir}`);
    console.log(`rendered ${path.relative(process.cwd(), dir) || "."}: ${objs.length} objects`);
  }
  console.log(`checked ${files.length} files, ${objects} objects, ${kdirs.length} kustomizations`);
}

async function main() {
  const args = process.argv.slice(2);
  if (args[0] === "--stdin") {
    const label = args[1] ?? "stdin";
    const docs = loadDocs(label, fs.readFileSync(0, "utf8"));
    for (const d of docs) await validateObject(d.value, d.where);
    checkReferences(docs, label);
    console.log(`${label}: ${docs.length} rendered objects checked`);
  } else if (args[0] === "--root" || args.length === 0) {
    await validateTree([path.resolve(args[1] ?? path.join(here, "..", "k8s"))]);
  } else {
    for (const a of args) if (!fs.existsSync(a)) fail(a, "no such file or directory");
    await validateTree(args.filter((a) => fs.existsSync(a)));
  }
  for (const e of errors) console.error(`error: ${e}`);
  if (errors.length) {
    console.error(`validate: ${errors.length} error(s)`);
    process.exit(1);
  }
  console.log("validate: ok");
}

await main();
