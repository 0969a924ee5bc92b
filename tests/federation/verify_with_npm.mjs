// An independent implementation checks Baton's RFC 9421 signatures: npm's
// `http-message-signatures` (with Node's own Ed25519 and SHA-256).
//
//   node verify_with_npm.mjs FILE                  verify FILE's request (and response, if any)
//   node verify_with_npm.mjs --sign FILE           sign FILE's request; print its fields
//   node verify_with_npm.mjs --sign-response FILE  sign FILE's response to FILE's request
//
// FILE is JSON:
//   { "request":  { "method", "url", "headers": { name: value }, "body" },
//     "response": { "status", "headers", "body" },            (optional)
//     "keys": { "<keyid>": "ed25519:<base64>" },             (to verify)
//     "seed": "<base64 of the 32-byte Ed25519 seed>", "keyid": "..." }  (to sign)
// Signing prints "name: value" lines for content-digest, signature-input, signature.
// Exit status: 0 verified or signed, 1 refused, 2 bad usage or input.
import { createHash, createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { httpbis, createSigner, createVerifier } = require('http-message-signatures');
const { parseDictionary, serializeItem } = require('structured-headers');

const TAG = 'baton-federation-v1';
const MAX_VALIDITY = 120;
const REQUEST_FIELDS = ['@method', '@authority', '@path', '@query', 'content-type', 'content-digest'];
const RESPONSE_FIELDS = ['@status', 'content-type', 'content-digest', '@method;req', '@authority;req',
  '@path;req', '@query;req', 'signature;req;key="sig1"'];
const PARAMS = ['created', 'expires', 'nonce', 'keyid', 'alg', 'tag'];

// RFC 8410 DER wrappers around raw Ed25519 keys.
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

class Refused extends Error {}

function header(headers, name) {
  const found = Object.entries(headers).find(([n]) => n.toLowerCase() === name);
  return found ? found[1] : undefined;
}

function contentDigest(body) {
  return `sha-256=:${createHash('sha256').update(body, 'utf8').digest('base64')}:`;
}

// Our own reading of Content-Digest, so that the body is checked too (the
// library signs and verifies the field, not the body).
function checkDigest(message, what) {
  const field = header(message.headers, 'content-digest');
  if (!field) throw new Refused(`${what}: no Content-Digest`);
  const sha256 = parseDictionary(field).get('sha-256');
  if (!sha256 || !(sha256[0] instanceof ArrayBuffer)) throw new Refused(`${what}: no sha-256 digest`);
  if (Buffer.from(sha256[0]).toString('base64') !== createHash('sha256').update(message.body, 'utf8').digest('base64')) {
    throw new Refused(`${what}: Content-Digest does not match the body`);
  }
}

// The signature parameters Baton requires, read with the library's own parser.
// Covered components compared in full, parameters included: the library's own
// requiredFields looks at names only, so "@method";req would pass for "@method".
function checkParams(message, fields, what) {
  const inputs = parseDictionary(header(message.headers, 'signature-input'));
  const ours = [...inputs.values()].filter(([, params]) => params.get('tag') === TAG);
  if (ours.length !== 1) throw new Refused(`${what}: expected one signature tagged ${TAG}, got ${ours.length}`);
  const [items, params] = ours[0];
  const covered = items.map((item) => serializeItem(item));
  for (const field of fields) {
    const [name, ...rest] = field.split(';');
    const wanted = [`"${name}"`, ...rest].join(';');
    if (!covered.includes(wanted)) throw new Refused(`${what}: ${wanted} is not covered`);
  }
  const validity = params.get('expires') - params.get('created');
  if (!(validity > 0 && validity <= MAX_VALIDITY)) throw new Refused(`${what}: validity ${validity} s`);
  const nonce = Buffer.from(String(params.get('nonce') ?? ''), 'base64url');
  if (nonce.length < 16) throw new Refused(`${what}: nonce shorter than 128 bits`);
  if (params.has('alg') && params.get('alg') !== 'ed25519') throw new Refused(`${what}: alg ${params.get('alg')}`);
}

async function verify(input) {
  const keys = new Map(Object.entries(input.keys).map(([keyid, text]) => {
    const raw = Buffer.from(text.replace(/^ed25519:/, ''), 'base64');
    return [keyid, createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' })];
  }));
  const keyLookup = async (params) => (keys.has(params.keyid)
    ? { id: params.keyid, algs: ['ed25519'], verify: createVerifier(keys.get(params.keyid), 'ed25519') }
    : null);
  const config = (fields) => ({
    keyLookup,
    requiredFields: fields.map((f) => f.split(';')[0]),
    requiredParams: PARAMS,
    tolerance: 5,
    all: true,
  });

  const request = { method: input.request.method, url: input.request.url, headers: input.request.headers };
  checkDigest(input.request, 'request');
  checkParams(input.request, REQUEST_FIELDS, 'request');
  if (await httpbis.verifyMessage(config(REQUEST_FIELDS), request) !== true) {
    throw new Refused('request: signature does not verify');
  }
  if (input.response) {
    const response = { status: input.response.status, headers: input.response.headers };
    checkDigest(input.response, 'response');
    checkParams(input.response, RESPONSE_FIELDS, 'response');
    if (await httpbis.verifyMessage(config(RESPONSE_FIELDS), response, request) !== true) {
      throw new Refused('response: signature does not verify');
    }
  }
}

async function sign(input, fields, message, request) {
  const seed = Buffer.from(input.seed, 'base64');
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  const created = new Date(Math.floor(Date.now() / 1000) * 1000);
  const digest = contentDigest(message.body);
  const signed = await httpbis.signMessage({
    key: createSigner(privateKey, 'ed25519', input.keyid),
    name: 'sig1',
    fields,
    params: PARAMS,
    paramValues: {
      created,
      expires: new Date(created.getTime() + MAX_VALIDITY * 1000),
      nonce: randomBytes(16).toString('base64url'),
      tag: TAG,
    },
  }, { ...message, headers: { ...message.headers, 'Content-Digest': digest } }, request);
  process.stdout.write(`content-digest: ${digest}\n`);
  process.stdout.write(`signature-input: ${header(signed.headers, 'signature-input')}\n`);
  process.stdout.write(`signature: ${header(signed.headers, 'signature')}\n`);
}

async function main(argv) {
  const [mode, file] = argv.length === 1 ? ['--verify', argv[0]] : argv;
  if (!file || !['--verify', '--sign', '--sign-response'].includes(mode)) {
    console.error('usage: node verify_with_npm.mjs [--sign | --sign-response] FILE');
    return 2;
  }
  let input;
  try {
    input = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`cannot read ${file}: ${e.message}`);
    return 2;
  }
  const request = { method: input.request.method, url: input.request.url, headers: input.request.headers };
  try {
    if (mode === '--verify') {
      await verify(input);
      console.log('verified');
    } else if (mode === '--sign') {
      await sign(input, REQUEST_FIELDS, { ...request, body: input.request.body });
    } else {
      const response = { status: input.response.status, headers: input.response.headers, body: input.response.body };
      await sign(input, RESPONSE_FIELDS, response, request);
    }
    return 0;
  } catch (e) {
    console.error(`refused: ${e.message}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
