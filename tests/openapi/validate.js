#!/usr/bin/env node
// Validates an OpenAPI 3.1 document (docs/openapi.json); exits non-zero and says why if invalid.
//
//   node validate.js [--self-test] <openapi.json>
//
// 1. @apidevtools/swagger-parser: the document against the OpenAPI 3.1 schema, every $ref
//    resolved.
// 2. What that schema leaves unchecked: each JSON Schema in the document compiles under Ajv's
//    strict draft 2020-12 mode (a misspelt keyword or type fails), every example matches its
//    schema, path templates and path parameters agree, operationIds are unique, every
//    operation has a 2xx answer.
// --self-test also checks that broken copies of the document are each refused, so a validator
// that stopped looking would fail.
"use strict";

const fs = require("fs");
const SwaggerParser = require("@apidevtools/swagger-parser");
const Ajv2020 = require("ajv/dist/2020");

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

async function problemsOf(doc) {
  const problems = [];
  try {
    await SwaggerParser.validate(structuredClone(doc));
  } catch (e) {
    problems.push(`swagger-parser: ${e.message}`);
    return problems;  // the checks below assume a well-formed document
  }
  problems.push(...schemaProblems(doc), ...operationProblems(doc));
  return problems;
}

// Every place the document holds a JSON Schema, with the examples given for it there.
function* schemaSites(doc) {
  for (const name of Object.keys(doc.components?.schemas ?? {}))
    yield { pointer: `/components/schemas/${name}`, examples: doc.components.schemas[name].examples ?? [] };
  function* walk(node, pointer) {
    if (node === null || typeof node !== "object") return;
    for (const [key, value] of Object.entries(node)) {
      const here = `${pointer}/${key.replace(/~/g, "~0").replace(/\//g, "~1")}`;
      if (key === "schema" && value && typeof value === "object") {
        // The object holding `schema` is a parameter, header or media type.
        const examples = [];
        if ("example" in node) examples.push(node.example);
        for (const example of Object.values(node.examples ?? {}))
          if (example && "value" in example) examples.push(example.value);
        yield { pointer: here, examples };
      } else {
        yield* walk(value, here);
      }
    }
  }
  yield* walk(doc.paths, "/paths");
  for (const part of ["parameters", "headers", "responses", "requestBodies"])
    yield* walk(doc.components?.[part], `/components/${part}`);
}

function schemaProblems(doc) {
  // Type arrays ("type": ["string", "null"]) are how 3.1 says nullable. Formats are
  // annotations here: the patterns carry the rules.
  const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true, validateFormats: false });
  // OpenAPI's own keywords: those of the Schema Object, and the document's top level, so that
  // the document can be registered whole and its schemas compiled where they are ($refs such as
  // "#/components/schemas/Lead" then resolve as in the document).
  ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
  ajv.addVocabulary(["openapi", "info", "jsonSchemaDialect", "servers", "paths", "webhooks", "components", "security", "tags"]);
  ajv.addSchema(doc, "openapi.json");
  const problems = [];
  for (const { pointer, examples } of schemaSites(doc)) {
    let validate;
    try {
      validate = ajv.compile({ $ref: `openapi.json#${pointer}` });
    } catch (e) {
      problems.push(`${pointer}: not a valid JSON Schema: ${e.message}`);
      continue;
    }
    examples.forEach((example, i) => {
      if (!validate(example))
        problems.push(`${pointer}: example ${i} does not match: ${ajv.errorsText(validate.errors)}`);
    });
  }
  return problems;
}

function operationProblems(doc) {
  const problems = [];
  const operationIds = new Map();
  const resolve = (node) => {
    while (node && node.$ref) node = node.$ref.slice(2).split("/").reduce((n, k) => n[k.replace(/~1/g, "/").replace(/~0/g, "~")], doc);
    return node;
  };
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    for (const method of METHODS.filter((m) => item[m])) {
      const op = item[method];
      const where = `${method.toUpperCase()} ${path}`;
      const parameters = [...(item.parameters ?? []), ...(op.parameters ?? [])].map(resolve);
      const declared = parameters.filter((p) => p.in === "path");
      const names = declared.map((p) => p.name).sort();
      if (JSON.stringify(names) !== JSON.stringify(templated))
        problems.push(`${where}: path parameters ${JSON.stringify(names)} do not match the template's ${JSON.stringify(templated)}`);
      for (const p of declared.filter((p) => p.required !== true))
        problems.push(`${where}: path parameter ${p.name} must be required`);
      if (!op.operationId) problems.push(`${where}: no operationId`);
      else if (operationIds.has(op.operationId))
        problems.push(`${where}: operationId ${op.operationId} is also used by ${operationIds.get(op.operationId)}`);
      else operationIds.set(op.operationId, where);
      if (!Object.keys(op.responses ?? {}).some((status) => /^2\d\d$/.test(status)))
        problems.push(`${where}: no 2xx response`);
    }
  }
  return problems;
}

// Broken copies of a valid document, each of which must be refused.
const BREAKAGES = {
  "no info": (d) => { delete d.info; },
  "a response status that is not one": (d) => { firstOperation(d).responses["2XY"] = { description: "x" }; },
  "a $ref to nothing": (d) => { firstOperation(d).responses["200"] = { $ref: "#/components/responses/NoSuchResponse" }; },
  "a misspelt JSON Schema type": (d) => { firstSchema(d).type = "strng"; },
  "a misspelt JSON Schema keyword": (d) => { firstSchema(d).minLenght = 1; },
  "an example its schema refuses": (d) => { firstSchemaWithExamples(d).examples.push({ "not": "what the schema says" }, 12); },
  "a path parameter renamed in the template only": (d) => {
    const path = Object.keys(d.paths).find((p) => p.includes("{"));
    d.paths[path.replace(/\{[^}]+\}/, "{renamed}")] = d.paths[path];
    delete d.paths[path];
  },
  "an operationId used twice": (d) => {
    const ops = Object.values(d.paths).flatMap((item) => METHODS.filter((m) => item[m]).map((m) => item[m]));
    ops[1].operationId = ops[0].operationId;
  },
};

function firstOperation(d) {
  const item = Object.values(d.paths)[0];
  return item[METHODS.find((m) => item[m])];
}
function firstSchema(d) {
  return Object.values(d.components.schemas).find((s) => s.type === "object");
}
function firstSchemaWithExamples(d) {
  return Object.values(d.components.schemas).find((s) => s.type === "object" && Array.isArray(s.examples));
}

async function main() {
  const args = process.argv.slice(2);
  const selfTest = args[0] === "--self-test";
  const file = args[selfTest ? 1 : 0];
  if (!file) {
    console.error("usage: node validate.js [--self-test] <openapi.json>");
    return 2;
  }
  let doc;
  try {
    doc = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    return 1;
  }
  const problems = await problemsOf(doc);
  if (problems.length) {
    console.error(`${file}: INVALID\n  ${problems.join("\n  ")}`);
    return 1;
  }
  const operations = Object.values(doc.paths).reduce((n, item) => n + METHODS.filter((m) => item[m]).length, 0);
  console.log(`${file}: valid OpenAPI ${doc.openapi}, ${operations} operations (swagger-parser ${require("@apidevtools/swagger-parser/package.json").version}, ajv ${require("ajv/package.json").version}, node ${process.version})`);
  if (!selfTest) return 0;

  let missed = 0;
  for (const [name, breakIt] of Object.entries(BREAKAGES)) {
    const broken = structuredClone(doc);
    breakIt(broken);
    const found = await problemsOf(broken);
    if (found.length) console.log(`refused as it should be, ${name}: ${found[0].split("\n")[0]}`);
    else {
      console.error(`NOT refused: a copy with ${name}`);
      missed++;
    }
  }
  return missed ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e) => { console.error(e); process.exitCode = 1; });
