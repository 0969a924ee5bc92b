// Browser-test harness: starts `build/baton demo` on free ports with a fresh data
// folder, drives Debian's chromium with playwright-core, and offers waits that end
// on an event or a deadline (never a fixed sleep).
//
// Environment:
//   BATON_BIN          the binary (default: build/baton under the repository root)
//   BATON_E2E_ASSETS=1 serve web/static from disk (--assets), to try page changes
//                      without rebuilding
//   CHROMIUM           the browser (default: /usr/bin/chromium)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TIMEOUT = 20_000; // per expectation: generous for a busy 2-core machine
export const TEST_TIMEOUT = 240_000; // a whole test, server and browser included
const SERVER_START_MS = 30_000;

// --- ports ----------------------------------------------------------------------

function listen(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(null));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(srv));
  });
}

function closeServer(srv) {
  return new Promise((resolve) => srv.close(() => resolve()));
}

// A port P such that P and P+1 are both free right now.
export async function freePortPair() {
  for (let i = 0; i < 50; i += 1) {
    const a = await listen(0);
    if (!a) continue;
    const p = a.address().port;
    const b = p < 65534 ? await listen(p + 1) : null;
    await closeServer(a);
    if (b) {
      await closeServer(b);
      return p;
    }
  }
  throw new Error('no two adjacent free ports found');
}

// --- the server -------------------------------------------------------------------

export async function startDemo() {
  const bin = process.env.BATON_BIN || path.join(ROOT, 'build', 'baton');
  if (!fs.existsSync(bin)) throw new Error(`${bin} does not exist: run "make build" first`);
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'baton-e2e-data-'));
  const port = await freePortPair();
  const args = ['demo', '--port', String(port), '--data', data];
  if (process.env.BATON_E2E_ASSETS === '1') args.push('--assets', path.join(ROOT, 'web', 'static'));
  const acme = `http://127.0.0.1:${port}`;
  const northwind = `http://127.0.0.1:${port + 1}`;
  let output = '';
  let proc = null;

  // Starts the process and waits until both organizations answer /healthz.
  async function launch() {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk) => {
      output += chunk.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    proc = { child, exited, gone: null };
    exited.then((r) => (proc && proc.child === child ? (proc.gone = r) : null));
    const deadline = Date.now() + SERVER_START_MS;
    for (const base of [acme, northwind]) {
      for (;;) {
        if (proc.gone) throw new Error(`baton demo exited (${JSON.stringify(proc.gone)}):\n${output}`);
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`baton demo did not answer ${base}/healthz in time:\n${output}`);
        }
        try {
          const res = await fetch(`${base}/healthz`);
          if (res.ok) break;
        } catch {
          // not listening yet
        }
        // Poll again when the process exits or after 100 ms, whichever comes first.
        await Promise.race([exited, new Promise((r) => setTimeout(r, 100))]);
      }
    }
  }

  async function halt() {
    if (!proc) return;
    const { child, exited } = proc;
    if (!proc.gone) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    proc = null;
  }

  await launch();
  return {
    acme,
    northwind,
    data,
    output: () => output,
    // Stops the server; `between` runs while it is down; then it starts again on
    // the same ports with the same data.
    async restart(between) {
      await halt();
      if (between) await between();
      await launch();
    },
    async stop() {
      await halt();
      fs.rmSync(data, { recursive: true, force: true });
    },
  };
}

// --- the browser ------------------------------------------------------------------

export async function startBrowser() {
  // playwright gives the browser a fresh --user-data-dir of its own under the
  // temporary folder; the other flags keep Chromium quiet and offline.
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: 60_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

// A new isolated browser context (its own cookies and storage) with one page.
// Every page dialog (alert, confirm, prompt) is recorded and dismissed.
export async function newPage(browser, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.dialogs = [];
  page.errors = [];
  page.on('dialog', (d) => {
    page.dialogs.push(`${d.type()}: ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  page.on('console', (m) => {
    // A 401 is how the console learns that nobody is signed in yet.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) page.errors.push(`console: ${m.text()}`);
  });
  return page;
}

// Runs `body` with a fresh server and browser, and always cleans both up.
export async function withWorld(body) {
  const server = await startDemo();
  let browser = null;
  try {
    browser = await startBrowser();
    await body({ server, browser });
  } catch (e) {
    e.message += `\n--- server output (last lines) ---\n${server.output().split('\n').slice(-40).join('\n')}`;
    throw e;
  } finally {
    if (browser) await browser.close().catch(() => {});
    await server.stop();
  }
}

// --- waits -------------------------------------------------------------------------

export async function visible(locator, timeout = TIMEOUT) {
  await locator.waitFor({ state: 'visible', timeout });
  return locator;
}

export async function gone(locator, timeout = TIMEOUT) {
  await locator.waitFor({ state: 'hidden', timeout });
}

// Waits until the element found by `locator` contains `text`.
export async function contains(locator, text, timeout = TIMEOUT) {
  await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout });
}

// Waits (on the server, not in a page) until an agent of `site` is online.
export async function agentOnline(base, site, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const res = await fetch(`${base}/api/visitor/availability?site=${encodeURIComponent(site)}`);
    const a = await res.json();
    if (a.online) return a;
    if (Date.now() > deadline) throw new Error(`no agent came online for ${site}: ${JSON.stringify(a)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// The frame whose address passes `test`, once it has loaded.
export async function frameOf(page, test, timeout = TIMEOUT) {
  const found = () => page.frames().find((f) => f !== page.mainFrame() && test(f.url()));
  let frame = found();
  if (!frame) {
    frame = await new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        page.off('framenavigated', on);
        reject(new Error('the chat frame did not load'));
      }, timeout);
      const on = (f) => {
        if (f !== page.mainFrame() && test(f.url())) {
          clearTimeout(t);
          page.off('framenavigated', on);
          resolve(f);
        }
      };
      page.on('framenavigated', on);
    });
  }
  await frame.waitForLoadState('load', { timeout });
  return frame;
}

// --- people --------------------------------------------------------------------------

export async function signIn(page, base, username, password = 'demo') {
  await page.goto(`${base}/console`);
  await page.getByRole('textbox', { name: 'Username' }).fill(username);
  await page.getByRole('textbox', { name: 'Password' }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await visible(page.getByRole('combobox', { name: 'Status' }));
  await page.getByRole('list', { name: 'Conversations' }).waitFor({ state: 'attached' });
  // The queue figures come once the console's WebSocket is attached: from then on
  // the server counts this agent as online (colleagues can transfer to it).
  await visible(page.getByRole('list', { name: 'Queues' }).getByRole('listitem').first());
}

// Opens the Transfer dialog of the open conversation.
export async function openTransferDialog(page) {
  await page.getByRole('button', { name: 'Transfer', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'Transfer' });
  await visible(dialog);
  return dialog;
}

// Sends `text` from a chat page or console (anything with textbox Message and button Send).
export async function say(scope, text) {
  const box = scope.getByRole('textbox', { name: 'Message', exact: true });
  await box.fill(text);
  await scope.getByRole('button', { name: 'Send', exact: true }).click();
}

// The console's list item for a conversation whose item shows `text`.
export function listItem(page, text) {
  return page.getByRole('list', { name: 'Conversations' }).getByRole('listitem').filter({ hasText: text });
}

export async function openFromList(page, text) {
  const item = listItem(page, text).first();
  await visible(item);
  await item.getByRole('button').click();
  await visible(page.getByRole('log', { name: 'Transcript' }));
}

// --- accessibility -----------------------------------------------------------------

// WCAG 2.1 levels A and AA, as axe-core tags its rules.
export const WCAG_21_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
let axeSource = null;

// Runs axe-core in `target` (a page, or a frame such as the widget's chat) as it is
// now, and fails on any violation of WCAG 2.1 A or AA, naming each rule and element.
// axe is evaluated through the DevTools protocol, which the page's
// Content-Security-Policy (script-src 'self') does not govern: no inline script
// tag, no bypassCSP, so the page runs exactly as it does for visitors. Animations
// that end are let end first (a message fading in is not yet its real colour).
export async function expectAccessible(target, what) {
  if (!axeSource) {
    const require = createRequire(import.meta.url);
    axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  }
  if (!(await target.evaluate(() => typeof window.axe === 'object'))) await target.evaluate(axeSource);
  const result = await target.evaluate(async (tags) => {
    const finite = document.getAnimations().filter((a) => a.effect && a.effect.getTiming().iterations !== Infinity);
    await Promise.all(finite.map((a) => a.finished.catch(() => {})));
    return window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
  }, WCAG_21_AA);
  const lines = [];
  for (const v of result.violations) {
    lines.push(`${v.id} (${v.impact}): ${v.help}`);
    for (const n of v.nodes) lines.push(`    ${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ').trim()}`);
  }
  assert.equal(result.violations.length, 0, `${what}: WCAG 2.1 AA violations:\n${lines.join('\n')}`);
}

// --- screenshots ----------------------------------------------------------------------

export async function screenshot(page, name) {
  const dir = path.join(ROOT, 'build', 'screenshots');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.png`);
  // A message that just came fades in (also inside the widget's frame, which the
  // screenshot's own animation setting does not reach): it is shown as it ends.
  for (const frame of page.frames()) {
    await frame.evaluate(() => Promise.all(document.getAnimations()
      .filter((a) => a.effect && a.effect.getTiming().iterations !== Infinity)
      .map((a) => a.finished.catch(() => {})))).catch(() => {});
  }
  await page.screenshot({ path: file, animations: 'disabled' });
  const docs = path.join(ROOT, 'docs', 'screenshots');
  fs.mkdirSync(docs, { recursive: true });
  fs.copyFileSync(file, path.join(docs, `${name}.png`));
  return file;
}

export function occurrences(haystack, needle) {
  let n = 0;
  for (let i = haystack.indexOf(needle); i !== -1; i = haystack.indexOf(needle, i + needle.length)) n += 1;
  return n;
}
