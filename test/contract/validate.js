#!/usr/bin/env node
// Validates order_mgmt's published contract and samples of what it emits.
//
//   node test/contract/validate.js [--docs DIR] [--contract DIR] [--samples FILE.jsonl]...
//                                  [--only-samples | --only-contract]
//
//   (a) docs/asyncapi.yml parses with @asyncapi/parser without errors (warnings are printed);
//   (b) every docs/schemas/*.schema.json compiles with Ajv (draft-07, strict mode, ajv-formats),
//       and each one is referenced by docs/asyncapi.yml or by another schema;
//   (c) the v1.0.0 contract's facts (test/contract/contract-v1.0.0.facts.json, this project's
//       statement of what the contract says) hold in the docs/schemas copy of each contract schema,
//       and that copy states nothing the contract does not (only "$id" added); the schemas that
//       extend the contract stay in step with it;
//   (d) every line {"schema": "OrderCreated", "value": {...}} of each samples file validates against
//       docs/schemas/<schema>.schema.json, and against the rules those schemas state in words
//       (see RULES below); a count of validated samples is printed.
//
// Everything it reads is in this tree.  --docs DIR checks another docs folder (asyncapi.yml and
// schemas/) instead of <repo>/docs, such as a copy with a schema changed on purpose.  --contract DIR,
// only when given, also checks that the facts describe the schemas in DIR (a copy of the published
// contract, the folder or its schemas/ folder) exactly.  --only-contract compiles the schemas and
// runs (c) only.
// Exit status: 0 when everything is valid, 1 when anything is not (each failure is printed),
// 2 on a usage error.
'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');

const Ajv = require('ajv');
const addFormats = require('ajv-formats');

const repo = path.resolve(__dirname, '..', '..');
const factsFile = path.join(__dirname, 'contract-v1.0.0.facts.json');
const factsLabel = path.relative(repo, factsFile);

function usage(msg) {
	console.error(`validate.js: ${msg}`);
	console.error('usage: node validate.js [--docs DIR] [--contract DIR] [--samples FILE.jsonl]... ' +
		'[--only-samples | --only-contract]');
	process.exit(2);
}

const args = { docs: null, contract: null, samples: [], onlySamples: false, onlyContract: false };
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	if (a === '--docs' || a === '--contract' || a === '--samples') {
		if (i + 1 >= process.argv.length) usage(`${a} needs a value`);
		if (a === '--docs') args.docs = process.argv[++i];
		else if (a === '--contract') args.contract = process.argv[++i];
		else args.samples.push(process.argv[++i]);
	} else if (a === '--only-samples') {
		args.onlySamples = true;
	} else if (a === '--only-contract') {
		args.onlyContract = true;
	} else if (a === '-h' || a === '--help') {
		usage('help');
	} else {
		usage(`unknown argument ${a}`);
	}
}
if (args.onlySamples && args.onlyContract) usage('--only-samples and --only-contract exclude each other');

const docs = args.docs ? path.resolve(args.docs) : path.join(repo, 'docs');
const schemaDir = path.join(docs, 'schemas');
const asyncapiFile = path.join(docs, 'asyncapi.yml');
if (!fs.existsSync(schemaDir)) usage(`no schemas/ folder in ${docs}`);
if (args.docs) console.log(`note docs/ is ${docs}`);

let failures = 0;
function fail(msg) {
	failures++;
	console.log(`FAIL ${msg}`);
}

function readJson(file) {
	return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function fmtErrors(errors) {
	return (errors || [])
		.map((e) => `    ${e.instancePath || '(root)'} ${e.message}` +
			(e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : '') +
			`  [${e.schemaPath}]`)
		.join('\n');
}

// "ok" when no failure was reported since `before`
function mark(before) {
	return failures === before ? 'ok  ' : 'FAIL';
}

function deepEqual(a, b) {
	return util.isDeepStrictEqual(a, b);
}

// ---------------------------------------------------------------- the schemas

const schemaFiles = fs.readdirSync(schemaDir).filter((f) => f.endsWith('.schema.json')).sort();
const schemas = {}; // name -> parsed schema
for (const f of schemaFiles) {
	const name = f.replace(/\.schema\.json$/, '');
	try {
		schemas[name] = readJson(path.join(schemaDir, f));
	} catch (e) {
		fail(`docs/schemas/${f}: not JSON: ${e.message}`);
	}
}

function newAjv() {
	// Ajv's default class is draft-07; strict mode rejects unknown keywords, ignored
	// keywords and ambiguous types instead of silently accepting them.
	const ajv = new Ajv({ strict: true, allErrors: true });
	addFormats(ajv);
	return ajv;
}

// ---------------------------------------------------------------- (b) compile

const ajv = newAjv();
const validators = {};
function compileAll() {
	const before = failures;
	for (const [name, schema] of Object.entries(schemas)) {
		const want = `https://schemas.acme.test/ordering/1.0.0/${name}.schema.json`;
		if (schema.$id !== want) fail(`docs/schemas/${name}.schema.json: "$id" is ${JSON.stringify(schema.$id)}, expected ${want}`);
		if (schema.$schema !== 'http://json-schema.org/draft-07/schema#')
			fail(`docs/schemas/${name}.schema.json: "$schema" is not draft-07`);
		if (schema.title !== name) fail(`docs/schemas/${name}.schema.json: title is ${JSON.stringify(schema.title)}, expected ${name}`);
		try {
			ajv.addSchema(schema);
		} catch (e) {
			fail(`docs/schemas/${name}.schema.json: ${e.message}`);
		}
	}
	for (const name of Object.keys(schemas)) {
		try {
			validators[name] = ajv.getSchema(schemas[name].$id);
			if (!validators[name]) fail(`docs/schemas/${name}.schema.json: did not compile`);
		} catch (e) {
			fail(`docs/schemas/${name}.schema.json: does not compile: ${e.message}`);
		}
	}
	console.log(`${mark(before)} compiled ${Object.keys(validators).length} of ${Object.keys(schemas).length} schemas in docs/schemas with Ajv ${require('ajv/package.json').version} (draft-07, strict)`);
}

// every schema file is used: by docs/asyncapi.yml or by another schema
function checkReferenced() {
	const asyncapi = fs.readFileSync(asyncapiFile, 'utf8');
	const texts = Object.fromEntries(schemaFiles.map((f) => [f, fs.readFileSync(path.join(schemaDir, f), 'utf8')]));
	for (const f of schemaFiles) {
		const used = asyncapi.includes(`./schemas/${f}`) ||
			Object.entries(texts).some(([g, t]) => g !== f && t.includes(`"${f}`));
		if (!used) fail(`docs/schemas/${f} is referenced neither by docs/asyncapi.yml nor by another schema`);
	}
}

// ---------------------------------------------------------------- (a) AsyncAPI

async function checkAsyncapi() {
	const before = failures;
	// loaded here: --only-samples and --only-contract runs do not need it
	const { Parser, fromFile, DiagnosticSeverity } = require('@asyncapi/parser');
	const parser = new Parser();
	const { document, diagnostics } = await fromFile(parser, asyncapiFile).parse();
	const sev = { [DiagnosticSeverity.Error]: 'error', [DiagnosticSeverity.Warning]: 'warning',
		[DiagnosticSeverity.Information]: 'info', [DiagnosticSeverity.Hint]: 'hint' };
	let errors = 0;
	for (const d of diagnostics) {
		const where = d.path && d.path.length ? ` at ${d.path.join('.')}` : '';
		const line = `docs/asyncapi.yml: ${sev[d.severity] || d.severity} ${d.code}: ${d.message}${where}`;
		if (d.severity === DiagnosticSeverity.Error) {
			errors++;
			fail(line);
		} else if (d.severity === DiagnosticSeverity.Warning) {
			console.log(`WARN ${line}`);
		} else {
			console.log(`note ${line}`);
		}
	}
	if (!document) {
		if (!errors) fail('docs/asyncapi.yml: the parser returned no document');
		return;
	}
	const version = document.version();
	if (version !== '3.0.0') fail(`docs/asyncapi.yml: asyncapi ${version}, expected 3.0.0`);

	// each message's payload that is a docs/schemas file (by title) is that file, as the
	// parser resolved it ($refs inlined): compare the keywords that say what an instance is
	const messages = document.components().messages().all();
	let fromFiles = 0;
	for (const m of messages) {
		const payload = m.payload();
		if (!payload) {
			fail(`docs/asyncapi.yml: message ${m.id()} has no payload`);
			continue;
		}
		const json = payload.json();
		const schema = json && json.schemaFormat ? json.schema : json;
		if (json && json.schemaFormat && json.schemaFormat !== 'application/schema+json;version=draft-07')
			fail(`docs/asyncapi.yml: message ${m.id()}: schemaFormat ${json.schemaFormat}, expected draft-07 JSON Schema`);
		const title = schema && schema.title;
		if (title && schemas[title]) {
			fromFiles++;
			compareTop(m.id(), schema, schemas[title]);
		}
	}
	if (!fromFiles) fail('docs/asyncapi.yml: no message payload is a docs/schemas file');
	const ops = document.operations().all();
	const channels = document.channels().all();
	if (!errors)
		console.log(`${mark(before)} docs/asyncapi.yml is a valid AsyncAPI ${version} document ` +
			`(@asyncapi/parser ${require('@asyncapi/parser/package.json').version}): ` +
			`${channels.length} channels, ${ops.length} operations, ${messages.length} messages ` +
			`(${fromFiles} with a docs/schemas payload)`);
}

function compareTop(msg, resolved, schema) {
	for (const k of ['$id', 'type', 'required', 'additionalProperties', 'enum', 'const']) {
		if (!deepEqual(resolved[k], schema[k]))
			fail(`docs/asyncapi.yml: message ${msg}: payload ${k} differs from docs/schemas/${schema.title}.schema.json`);
	}
	const a = Object.keys(resolved.properties || {}).sort();
	const b = Object.keys(schema.properties || {}).sort();
	if (!deepEqual(a, b))
		fail(`docs/asyncapi.yml: message ${msg}: payload properties ${a} differ from docs/schemas/${schema.title}.schema.json's ${b}`);
}

// ---------------------------------------------------------------- (c) the contract's facts

// The facts file: { draft, provenance, schemas: { Name: { title, fields: { PATH: { KEYWORD: VALUE } } } } },
// PATH "$" for the message, "$.a" for its property a, "$.a[]" for an element of array a.
function loadFacts() {
	let facts;
	try {
		facts = readJson(factsFile);
	} catch (e) {
		fail(`${factsLabel}: ${e.message}`);
		return null;
	}
	let ok = typeof facts.draft === 'string' && facts.schemas && typeof facts.schemas === 'object' &&
		facts.provenance && typeof facts.provenance.source === 'string';
	for (const [name, f] of Object.entries(facts.schemas || {})) {
		if (!f || f.title !== name || !f.fields || !f.fields.$ ||
			!Object.values(f.fields).every((v) => v && typeof v === 'object' && !Array.isArray(v))) {
			fail(`${factsLabel}: schemas.${name} is not { title: "${name}", fields: { "$": {...}, ... } }`);
			ok = false;
		}
	}
	if (!ok) {
		fail(`${factsLabel}: not a facts file (draft, provenance.source, schemas)`);
		return null;
	}
	return facts;
}

function isSchemaObject(v) {
	return v !== null && typeof v === 'object' && !Array.isArray(v);
}

// Checks that the schema `schema` (labelled `label`) is what the facts `f` of one contract schema
// say: every fact holds in it, and it states no field, keyword, required name or enum value that
// the facts do not.  At the root, "$schema" must be the facts' draft, "title" the facts' title, and
// "$id" is allowed when allowId.
function compareToFacts(label, schema, draft, f, allowId) {
	const before = failures;
	const q = JSON.stringify;
	if (!isSchemaObject(schema)) {
		fail(`${label}: not a schema object`);
		return false;
	}
	if (schema.$schema !== draft) fail(`${label}: "$schema" is ${q(schema.$schema)}, the contract's draft is ${draft}`);
	if (schema.title !== f.title) fail(`${label}: title is ${q(schema.title)}, the contract's is ${q(f.title)}`);
	const seen = new Set();
	const walk = (node, p) => {
		const fact = f.fields[p];
		if (!fact) {
			fail(`${label}: ${p}: not a field of the contract`);
			return;
		}
		seen.add(p);
		if (!isSchemaObject(node)) {
			fail(`${label}: ${p}: not a schema object`);
			return;
		}
		for (const [k, v] of Object.entries(node)) {
			if (p === '$' && (k === '$schema' || k === 'title' || (k === '$id' && allowId))) continue;
			if (k === 'properties') {
				if (!isSchemaObject(v)) fail(`${label}: ${p}: properties is not an object`);
				else for (const [c, s] of Object.entries(v)) walk(s, `${p}.${c}`);
				continue;
			}
			if (k === 'items') {
				if (!isSchemaObject(v)) fail(`${label}: ${p}: items is not one schema`);
				else walk(v, `${p}[]`);
				continue;
			}
			if (!(k in fact)) {
				fail(`${label}: ${p}: states ${k} ${q(v)}, the contract does not`);
				continue;
			}
			const want = fact[k];
			if (k === 'required' || k === 'enum') {
				if (!Array.isArray(v)) {
					fail(`${label}: ${p}: ${k} is ${q(v)}, the contract's is ${q(want)}`);
					continue;
				}
				for (const x of want)
					if (!v.some((y) => deepEqual(x, y))) fail(`${label}: ${p}: ${k} lacks ${q(x)}, the contract's has it`);
				for (const y of v)
					if (!want.some((x) => deepEqual(x, y))) fail(`${label}: ${p}: ${k} has ${q(y)}, the contract's does not`);
				if (new Set(v.map((y) => q(y))).size !== v.length) fail(`${label}: ${p}: ${k} ${q(v)} repeats a value`);
			} else if (!deepEqual(v, want)) {
				fail(`${label}: ${p}: ${k} is ${q(v)}, the contract's is ${q(want)}`);
			}
		}
		for (const [k, want] of Object.entries(fact)) {
			if (k in node) continue;
			// additionalProperties true: the contract does not restrict them, as an absent keyword
			if (k === 'additionalProperties' && want === true) continue;
			fail(`${label}: ${p}: lacks the contract's ${k} ${q(want)}`);
		}
	};
	walk(schema, '$');
	for (const p of Object.keys(f.fields)) if (!seen.has(p)) fail(`${label}: lacks the contract's field ${p}`);
	return failures === before;
}

// the names of the properties of the field at path p (its child paths "p.name")
function factProperties(f, p) {
	return Object.keys(f.fields).filter((c) => c.startsWith(`${p}.`) && !c.slice(p.length + 1).match(/[.[]/))
		.map((c) => c.slice(p.length + 1));
}

function checkFacts() {
	const before = failures;
	const facts = loadFacts();
	if (!facts) return;
	const names = Object.keys(facts.schemas);
	for (const name of names) {
		const mine = schemas[name];
		if (!mine) {
			fail(`${factsLabel}: ${name}: docs/schemas/${name}.schema.json is missing`);
			continue;
		}
		compareToFacts(`docs/schemas/${name}.schema.json`, mine, facts.draft, facts.schemas[name], true);
	}

	// GetOrderResponse extends the contract's GetOrder response: it must stay a superset of it
	const get = facts.schemas.GetOrder;
	const ext = schemas.GetOrderResponse;
	if (get && get.fields['$.response'] && ext) {
		const resp = get.fields['$.response'];
		if (!(ext.allOf || []).some((s) => s.$ref === 'GetOrder.schema.json#/properties/response'))
			fail('GetOrderResponse: does not include (allOf $ref) the contract GetOrder response');
		for (const r of resp.required || [])
			if (!(ext.required || []).includes(r)) fail(`GetOrderResponse: contract response requires ${r}, it does not`);
		for (const p of factProperties(get, '$.response')) {
			const type = get.fields[`$.response.${p}`].type;
			const mineP = (ext.properties || {})[p];
			if (!mineP) fail(`GetOrderResponse: lacks contract response property ${p}`);
			else if (mineP.type !== type) fail(`GetOrderResponse: ${p} is ${mineP.type}, contract says ${type}`);
		}
	}
	// the exact-payload definitions list exactly the contract's event properties
	const payload = schemas.OrderEventPayload;
	if (payload) {
		for (const t of ['OrderCreated', 'OrderCompleted', 'OrderCancelled']) {
			const def = (payload.definitions || {})[t];
			if (!facts.schemas[t]) {
				fail(`${factsLabel}: has no facts of ${t}`);
				continue;
			}
			if (!def || !def.propertyNames || !Array.isArray(def.propertyNames.enum) ||
				!deepEqual([...def.propertyNames.enum].sort(), factProperties(facts.schemas[t], '$').sort()))
				fail(`OrderEventPayload: definitions/${t} does not list exactly the contract's ${t} properties`);
			if (!def || !(def.allOf || []).some((s) => s.$ref === `${t}.schema.json`))
				fail(`OrderEventPayload: definitions/${t} does not include ${t}.schema.json`);
		}
	}
	console.log(`${mark(before)} ${names.length} contract schemas (${factsLabel}: ${facts.provenance.source}) ` +
		'hold in docs/schemas, which states nothing more');

	if (args.contract) checkContractDir(facts);
}

// --contract DIR: the facts describe exactly the schemas of a copy of the published contract
function checkContractDir(facts) {
	const before = failures;
	const c = path.resolve(args.contract);
	const dir = [path.join(c, 'schemas'), c].find((d) => fs.existsSync(d) && fs.statSync(d).isDirectory() &&
		fs.readdirSync(d).some((f) => f.endsWith('.schema.json')));
	if (!dir) {
		fail(`--contract: no *.schema.json in ${c} or ${path.join(c, 'schemas')}`);
		return;
	}
	const files = fs.readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort();
	const cajv = newAjv();
	for (const name of Object.keys(facts.schemas)) {
		const f = `${name}.schema.json`;
		if (!files.includes(f)) {
			fail(`--contract ${dir}: ${f} is missing`);
			continue;
		}
		let s;
		try {
			s = readJson(path.join(dir, f));
			cajv.compile(s);
		} catch (e) {
			fail(`--contract ${dir}/${f}: ${e.message}`);
			continue;
		}
		compareToFacts(`--contract ${dir}/${f}`, s, facts.draft, facts.schemas[name], false);
	}
	for (const f of files)
		if (!facts.schemas[f.replace(/\.schema\.json$/, '')]) fail(`--contract ${dir}/${f}: ${factsLabel} has no facts of it`);
	console.log(`${mark(before)} ${factsLabel} states exactly the ${files.length} contract schemas in ${dir}`);
}

// ---------------------------------------------------------------- (d) samples

// RFC 3339 date-time -> microseconds since the epoch (BigInt), or null
function micros(s) {
	const m = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2}))$/.exec(s);
	if (!m) return null;
	let us = BigInt(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) * 1000n;
	us += BigInt(((m[7] || '') + '000000').slice(0, 6));
	if (m[9]) us -= BigInt((m[9] === '-' ? -1 : 1) * (+m[10] * 60 + +m[11])) * 60000000n;
	return us;
}

const timeOf = { OrderCreated: 'createdAt', OrderCompleted: 'completedAt', OrderCancelled: 'cancelledAt' };

function totalRule(o) {
	if (!o || !Array.isArray(o.items)) return null;
	const sum = o.items.reduce((s, i) => s + BigInt(i.quantity) * BigInt(i.unitPrice), 0n);
	return BigInt(o.total) === sum ? null : `total ${o.total} is not the sum of quantity x unitPrice (${sum})`;
}

// Rules the schemas state in words: JSON Schema cannot compare two values of one instance.
const RULES = {
	CreateOrder: (v) => [totalRule(v)],
	GetOrderResponse: (v) => [totalRule(v)],
	GetOrder: (v) => [
		totalRule(v.response),
		v.request.orderId === v.response.orderId ? null : 'response.orderId is not request.orderId',
	],
	OutboxEvent: (v) => [
		v.payload.orderId === v.aggregateid ? null : 'payload.orderId is not aggregateid',
		micros(v.occurred_at) === micros(v.payload[timeOf[v.type]]) ? null
			: `occurred_at ${v.occurred_at} is not payload.${timeOf[v.type]} ${v.payload[timeOf[v.type]]}`,
	],
	OrderEventCloudEvent: (v) => [
		v.data.orderId === v.subject ? null : 'data.orderId is not subject',
		micros(v.time) === micros(v.data[timeOf[v.type]]) ? null
			: `time ${v.time} is not data.${timeOf[v.type]} ${v.data[timeOf[v.type]]}`,
	],
};

function checkSamples(file) {
	let text;
	try {
		text = fs.readFileSync(file, 'utf8');
	} catch (e) {
		fail(`samples ${file}: ${e.message}`);
		return { counts: {}, lines: 0 };
	}
	const counts = {};
	let lines = 0;
	text.split('\n').forEach((line, i) => {
		if (line.trim() === '') return;
		lines++;
		const where = `${path.basename(file)}:${i + 1}`;
		let sample;
		try {
			sample = JSON.parse(line);
		} catch (e) {
			fail(`${where}: not JSON: ${e.message}`);
			return;
		}
		if (!sample || typeof sample.schema !== 'string' || !('value' in sample)) {
			fail(`${where}: not a sample {"schema": NAME, "value": VALUE}`);
			return;
		}
		const validate = validators[sample.schema];
		if (!validate) {
			fail(`${where}: unknown schema ${JSON.stringify(sample.schema)} (no docs/schemas/${sample.schema}.schema.json)`);
			return;
		}
		const label = sample.label ? ` (${sample.label})` : '';
		if (!validate(sample.value)) {
			fail(`${where}: ${sample.schema}${label} is invalid:\n${fmtErrors(validate.errors)}\n    value: ${JSON.stringify(sample.value)}`);
			return;
		}
		const broken = (RULES[sample.schema] ? RULES[sample.schema](sample.value) : []).filter(Boolean);
		if (broken.length) {
			fail(`${where}: ${sample.schema}${label} breaks a rule:\n${broken.map((b) => `    ${b}`).join('\n')}\n    value: ${JSON.stringify(sample.value)}`);
			return;
		}
		counts[sample.schema] = (counts[sample.schema] || 0) + 1;
	});
	return { counts, lines };
}

// ---------------------------------------------------------------- main

(async () => {
	compileAll();
	if (!args.onlySamples) {
		if (!args.onlyContract) {
			checkReferenced();
			await checkAsyncapi();
		}
		checkFacts();
	}
	let total = 0;
	for (const f of args.samples) {
		const { counts, lines } = checkSamples(f);
		const n = Object.values(counts).reduce((a, b) => a + b, 0);
		total += n;
		const by = Object.entries(counts).sort().map(([k, v]) => `${k} ${v}`).join(', ');
		console.log(`${n === lines ? 'ok  ' : 'FAIL'} ${n} of ${lines} samples valid in ${f}${by ? ` (${by})` : ''}`);
	}
	if (args.samples.length) console.log(`validated samples: ${total}`);
	if (failures) {
		console.log(`contract validation FAILED: ${failures} failure(s)`);
		process.exit(1);
	}
	console.log('contract validation passed');
})().catch((e) => {
	console.log(`FAIL ${e.stack || e}`);
	console.log('contract validation FAILED');
	process.exit(1);
});
