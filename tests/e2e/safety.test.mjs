// Markup typed by people is shown as text on both pages and never runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, frameOf, say, listItem, openFromList,
  openTransferDialog, TEST_TIMEOUT,
} from './harness.mjs';

const IMG = '<img src=x onerror=alert(1)>';
const SCRIPT = '<script>alert(2)</script><b>bold?</b>';
const NAME = '<i onmouseover=alert(3)>Mallory</i>';

test('markup typed by a visitor or an agent is shown as text in both pages and never runs', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await visitor.getByRole('textbox', { name: 'Name' }).fill(NAME);
    await say(visitor, IMG);
    const log = visitor.getByRole('log', { name: 'Transcript' });
    await contains(log, IMG);

    // In the console: the list item and the open conversation show the characters as typed.
    await contains(listItem(agent, IMG).first(), NAME);
    const item = listItem(agent, NAME).first();
    await openFromList(agent, IMG);
    const agentLog = agent.getByRole('log', { name: 'Transcript' });
    await contains(agentLog, IMG);
    await visible(agent.getByRole('heading', { name: NAME }));

    await say(agent, SCRIPT);
    await contains(log, SCRIPT);
    await contains(agentLog, SCRIPT);
    // An internal note with markup, too (and it stays with the agents).
    await agent.getByRole('checkbox', { name: 'Internal note' }).check();
    await say(agent, `note ${IMG}`);
    await contains(agentLog, `note ${IMG}`);
    await agent.getByRole('checkbox', { name: 'Internal note' }).uncheck();
    await say(agent, 'after the note');
    await contains(log, 'after the note');
    assert.ok(!(await log.textContent()).includes('note <img'), 'the visitor sees an internal note');

    // Nothing became an element: no images, no bold, no italics in either transcript.
    for (const [page, where] of [[visitor, log], [agent, agentLog]]) {
      assert.equal(await where.getByRole('img').count(), 0);
      assert.equal(await where.getByRole('strong').count(), 0);
      assert.equal(await where.getByRole('emphasis').count(), 0);
      assert.deepEqual(page.dialogs, [], `a dialog opened: ${page.dialogs}`);
    }
    assert.equal(await agent.getByRole('heading', { name: NAME }).getByRole('emphasis').count(), 0);
    // Hovering where the name is shown runs nothing either.
    await agent.getByRole('heading', { name: NAME }).hover();
    await item.hover();
    assert.deepEqual(agent.dialogs, []);
    assert.deepEqual(visitor.dialogs, []);
    assert.deepEqual(visitor.errors, [], visitor.errors.join('\n'));
    assert.deepEqual(agent.errors, [], agent.errors.join('\n'));
  });
});

// What a script would leave behind if it ever ran; checked in every page and frame.
const MARK = '__batonPwned';
const NOTE = `<img src=x onerror="window.${MARK}=1"> card <svg onload="window.${MARK}=1"></svg>`;
const REASON = `<b onclick="window.${MARK}=1">busy</b>`;
const PARTNER_NOTE = `<iframe src="javascript:window.parent.${MARK}=1"></iframe> plate <a href="javascript:window.${MARK}=1">KX</a>`;
const WNAME = `<img src=x onerror="window.${MARK}=1">Eve`;
const WTEXT = `<script>window.${MARK}=1</script>hit my car`;

// Nothing in `scope` became an element from what people typed.
async function noMarkupElements(scope) {
  for (const role of ['img', 'strong', 'emphasis']) {
    assert.equal(await scope.getByRole(role).count(), 0, `a ${role} appeared`);
  }
  assert.equal(await scope.getByRole('link', { name: 'KX' }).count(), 0, 'a link appeared');
}

async function noScriptRan(...pages) {
  for (const p of pages) {
    for (const f of p.frames()) {
      const hit = await f.evaluate((m) => window[m] === 1, MARK).catch(() => false);
      assert.equal(hit, false, `a script ran in ${f.url()}`);
    }
    assert.deepEqual(p.dialogs, [], p.dialogs.join('\n'));
    assert.deepEqual(p.errors, [], p.errors.join('\n'));
  }
}

test('markup in names, messages, transfer notes and reasons stays text in the widget, the console, the transfer page and the partner\'s console', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const alice = await newPage(browser);
    await signIn(alice, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    // The visitor writes from the widget on Acme's website.
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/demo`);
    await visitor.getByRole('button', { name: 'Chat with us' }).click();
    const chat = await frameOf(visitor, (url) => url.startsWith(`${server.acme}/chat?site=acme-web`));
    await chat.getByRole('textbox', { name: 'Name' }).fill(WNAME);
    await say(chat, WTEXT);
    const acmeLog = chat.getByRole('log', { name: 'Transcript' });
    await contains(acmeLog, WTEXT);
    await contains(acmeLog, 'Alice joined the conversation');

    // alice's list, heading and transcript show it as typed.
    await contains(listItem(alice, WNAME).first(), WTEXT);
    await openFromList(alice, WNAME);
    await visible(alice.getByRole('heading', { name: WNAME }));
    const aliceLog = alice.getByRole('log', { name: 'Transcript' });
    await contains(aliceLog, WTEXT);

    // A transfer offer to carol with a note full of markup; carol declines with more.
    const carol = await newPage(browser);
    await signIn(carol, server.acme, 'carol');
    let dialog = await openTransferDialog(alice);
    await dialog.getByRole('group', { name: 'Agents' }).getByRole('radio', { name: 'Carol' }).check();
    await dialog.getByRole('textbox', { name: 'Note' }).fill(NOTE);
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);
    await openFromList(carol, 'Transfer request from Alice');
    const offer = carol.getByRole('region', { name: 'Transfer request' });
    await contains(offer.getByRole('figure', { name: 'Note from Alice' }), NOTE);
    await noMarkupElements(offer);
    const carolLog = carol.getByRole('log', { name: 'Transcript' });
    await contains(carolLog, WTEXT);
    await noMarkupElements(carolLog);
    await offer.getByRole('textbox', { name: 'Reason for declining' }).fill(REASON);
    await offer.getByRole('button', { name: 'Decline transfer' }).click();
    await gone(offer);
    const status = alice.getByRole('region', { name: 'Transfer status' });
    await contains(status, REASON);
    const history = alice.getByRole('list', { name: 'Transfers' });
    await contains(history.getByRole('listitem'), 'Alice to Carol');
    await noMarkupElements(history);
    await noMarkupElements(status);

    // Then to Northwind Insurance's Claims queue, with another such note. The chat
    // page goes through Acme's transfer page to Northwind's join page.
    dialog = await openTransferDialog(alice);
    await dialog.getByRole('group', { name: 'Partner organizations' }).getByRole('radio', { name: 'Northwind Insurance' }).check();
    const queues = dialog.getByRole('group', { name: 'Queues at Northwind Insurance' });
    const claims = queues.getByRole('radio', { name: 'Claims' });
    await visible(claims);
    await claims.check();
    await dialog.getByRole('textbox', { name: 'Note' }).fill(PARTNER_NOTE);
    const transferPage = visitor.waitForResponse((r) => r.url() === `${server.acme}/transfer` && r.request().method() === 'POST');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);
    const page = await transferPage;
    const html = await page.text();
    assert.ok(!html.includes('<script'), 'the transfer page carries a script');
    assert.ok(!html.includes(WNAME) && !html.includes(PARTNER_NOTE), 'the transfer page echoes what people typed');

    const north = await frameOf(visitor, (url) => url.startsWith(`${server.northwind}/chat`));
    const northLog = north.getByRole('log', { name: 'Transcript' });
    await contains(northLog, WTEXT);
    await contains(northLog, 'Transferred from Acme Bank by Alice.');
    await noMarkupElements(northLog);
    await contains(status, 'Transferred to Northwind Insurance');

    // bob, at Northwind: the list, the context packet with the note, the transcript.
    const bob = await newPage(browser);
    await signIn(bob, server.northwind, 'bob');
    await contains(listItem(bob, WNAME).first(), 'From Acme Bank');
    await openFromList(bob, WNAME);
    await visible(bob.getByRole('heading', { name: WNAME }));
    const context = bob.getByRole('region', { name: 'Transferred from Acme Bank' });
    await contains(context.getByRole('figure', { name: 'Note from Alice at Acme Bank' }), PARTNER_NOTE);
    await noMarkupElements(context);
    const bobLog = bob.getByRole('log', { name: 'Transcript' });
    await contains(bobLog, WTEXT);
    await contains(bobLog, `Note from Alice at Acme Bank: ${PARTNER_NOTE}`);
    await noMarkupElements(bobLog);
    await say(bob, SCRIPT);
    await contains(northLog, SCRIPT);
    await noMarkupElements(northLog);

    // alice's history of the ended conversation.
    await contains(listItem(alice, WNAME).first(), 'Transferred to Northwind Insurance');
    await noMarkupElements(alice.getByRole('list', { name: 'Conversations' }));
    await noMarkupElements(aliceLog);

    // Hover and click where the markup is shown; nothing runs anywhere.
    await bob.getByRole('heading', { name: WNAME }).hover();
    await contains(bobLog, 'plate');
    await bobLog.filter({ hasText: 'plate' }).first().click();
    await noScriptRan(alice, carol, bob, visitor);
  });
});

test('signing out in one tab ends the console in every other tab of that session at once', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const first = await newPage(browser);
    await signIn(first, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');
    // A second tab of the same browser: the same session cookie.
    const second = await first.context().newPage();
    await second.goto(`${server.acme}/console`);
    await visible(second.getByRole('combobox', { name: 'Status' }));
    await visible(second.getByRole('list', { name: 'Queues' }).getByRole('listitem').first());

    await first.getByRole('button', { name: 'Sign out' }).click();
    await visible(first.getByRole('button', { name: 'Sign in' }));
    // The other tab's socket was closed by the server; it does not keep receiving.
    await visible(second.getByRole('button', { name: 'Sign in' }));
    // And alice goes offline now, well before the 30 s grace period for dropped consoles.
    const deadline = Date.now() + 10_000;
    for (;;) {
      const res = await fetch(`${server.acme}/api/visitor/availability?site=acme-web`);
      if (!(await res.json()).online) break;
      assert.ok(Date.now() < deadline, 'alice is still online after signing out');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(first.errors, [], first.errors.join('\n'));
  });
});
