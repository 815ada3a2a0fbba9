#!/usr/bin/env node
// Validates order_mgmt's published contract and samples of what it emits.
//
//   node test/contract/validate.js [--contract DIR] [--samples FILE.jsonl]... [--only-samples]
//
//   (a) docs/asyncapi.yml parses with @asyncapi/parser without errors (warnings are printed);
//   (b) every docs/schemas/*.schema.json compiles with Ajv (draft-07, strict mode, ajv-formats),
//       and each one is referenced by docs/asyncapi.yml or by another schema;
//   (c) every contract schema (DIR/*.schema.json, the v1.0.0 contract in ../shared/contract/schemas)
//       has its docs/schemas copy with the same content (only "$id" added), and the schemas that
//       extend it stay in step with it;
//   (d) every line {"schema": "OrderCreated", "value": {...}} of each samples file validates against
//       docs/schemas/<schema>.schema.json, and against the rules those schemas state in words
//       (see RULES below); a count of validated samples is printed.
//
// The contract directory is --contract, else $ORDER_MGMT_CONTRACT, else <repo>/../shared/contract
// (CI clones the repo beside shared/); DIR may be the contract folder or its schemas/ folder.
// Exit status: 0 when everything is valid, 1 when anything is not (each failure is printed),
// 2 on a usage error.
'use strict';

const fs = require('fs');
const path = require('path');
const util = require('util');

const Ajv = require('ajv');
const addFormats = require('ajv-formats');
const { Parser, fromFile, DiagnosticSeverity } = require('@asyncapi/parser');

const repo = path.resolve(__dirname, '..', '..');
const docs = path.join(repo, 'docs');
const schemaDir = path.join(docs, 'schemas');
const asyncapiFile = path.join(docs, 'asyncapi.yml');

function usage(msg) {
	console.error(`validate.js: ${msg}`);
	console.error('usage: node validate.js [--contract DIR] [--samples FILE.jsonl]... [--only-samples]');
	process.exit(2);
}

const args = { contract: null, samples: [], onlySamples: false };
for (let i = 2; i < process.argv.length; i++) {
	const a = process.argv[i];
	if (a === '--contract' || a === '--samples') {
		if (i + 1 >= process.argv.length) usage(`${a} needs a value`);
		if (a === '--contract') args.contract = process.argv[++i];
		else args.samples.push(process.argv[++i]);
	} else if (a === '--only-samples') {
		args.onlySamples = true;
	} else if (a === '-h' || a === '--help') {
		usage('help');
	} else {
		usage(`unknown argument ${a}`);
	}
}

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

// ---------------------------------------------------------------- (c) the contract

function findContract() {
	const candidates = [args.contract, process.env.ORDER_MGMT_CONTRACT,
		path.join(repo, '..', 'shared', 'contract')].filter(Boolean);
	for (const c of candidates) {
		for (const d of [path.join(c, 'schemas'), c]) {
			if (fs.existsSync(d) && fs.statSync(d).isDirectory() &&
				fs.readdirSync(d).some((f) => f.endsWith('.schema.json')))
				return d;
		}
		if (c === args.contract || c === process.env.ORDER_MGMT_CONTRACT) {
			fail(`contract: no *.schema.json in ${c} or ${path.join(c, 'schemas')}`);
			return null;
		}
	}
	fail(`contract: not found (give --contract DIR or ORDER_MGMT_CONTRACT; looked in ${candidates.join(', ')})`);
	return null;
}

function checkContract() {
	const before = failures;
	const dir = findContract();
	if (!dir) return;
	const cajv = newAjv();
	const files = fs.readdirSync(dir).filter((f) => f.endsWith('.schema.json')).sort();
	const contract = {};
	for (const f of files) {
		const name = f.replace(/\.schema\.json$/, '');
		let c;
		try {
			c = readJson(path.join(dir, f));
			cajv.compile(c);
		} catch (e) {
			fail(`contract ${f}: ${e.message}`);
			continue;
		}
		contract[name] = c;
		const mine = schemas[name];
		if (!mine) {
			fail(`contract ${f}: docs/schemas/${f} is missing`);
			continue;
		}
		// the same content: only "$id" may be added
		const { $id, ...rest } = mine;
		if (!deepEqual(rest, c)) {
			fail(`contract ${f}: docs/schemas/${f} differs from the contract (beyond "$id")`);
			diffSchemas(name, c, rest);
		}
		if (!deepEqual(Object.keys(rest), Object.keys(c)))
			fail(`contract ${f}: docs/schemas/${f} orders its keys differently`);
	}

	// GetOrderResponse extends the contract's GetOrder response: it must stay a subset of it
	const resp = contract.GetOrder && contract.GetOrder.properties.response;
	const ext = schemas.GetOrderResponse;
	if (resp && ext) {
		if (!(ext.allOf || []).some((s) => s.$ref === 'GetOrder.schema.json#/properties/response'))
			fail('GetOrderResponse: does not include (allOf $ref) the contract GetOrder response');
		for (const r of resp.required)
			if (!ext.required.includes(r)) fail(`GetOrderResponse: contract response requires ${r}, it does not`);
		for (const [p, s] of Object.entries(resp.properties)) {
			if (!ext.properties[p]) fail(`GetOrderResponse: lacks contract response property ${p}`);
			else if (ext.properties[p].type !== s.type) fail(`GetOrderResponse: ${p} is ${ext.properties[p].type}, contract says ${s.type}`);
		}
	}
	// the exact-payload definitions list exactly the contract's event properties
	const payload = schemas.OrderEventPayload;
	if (payload) {
		for (const t of ['OrderCreated', 'OrderCompleted', 'OrderCancelled']) {
			const def = payload.definitions[t];
			if (!contract[t]) {
				fail(`contract: ${t}.schema.json is missing`);
				continue;
			}
			if (!def || !deepEqual([...def.propertyNames.enum].sort(), Object.keys(contract[t].properties).sort()))
				fail(`OrderEventPayload: definitions/${t} does not list exactly the contract's ${t} properties`);
			if (!def || !def.allOf.some((s) => s.$ref === `${t}.schema.json`))
				fail(`OrderEventPayload: definitions/${t} does not include ${t}.schema.json`);
		}
	}
	console.log(`${mark(before)} ${Object.keys(contract).length} contract schemas in ${dir} checked against docs/schemas`);
}

function diffSchemas(name, c, mine, at = '') {
	const keys = new Set([...Object.keys(c || {}), ...Object.keys(mine || {})]);
	for (const k of keys) {
		const a = c ? c[k] : undefined;
		const b = mine ? mine[k] : undefined;
		if (deepEqual(a, b)) continue;
		if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) diffSchemas(name, a, b, `${at}/${k}`);
		else console.log(`       ${name}${at}/${k}: contract ${JSON.stringify(a)}, docs ${JSON.stringify(b)}`);
	}
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
		checkReferenced();
		await checkAsyncapi();
		checkContract();
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
