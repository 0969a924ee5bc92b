// Transfers to a partner organization (DESIGN.md §2.3, docs/federation.md): the
// whole journey in Chromium. `build/baton demo` runs Acme Bank on P and Northwind
// Insurance on P+1, peered both ways: Acme may send visitors into Northwind's
// Claims and Sales queues, and Northwind's chat page may be framed by Acme's site.
//
// 1. A visitor on Acme's demo site (the widget) chats with alice; alice transfers
//    the visitor to Northwind's Claims queue with a note; the widget's frame goes
//    to Northwind, where the visitor finds the earlier transcript and waits in
//    line; bob signs in, reads the note and the transcript, answers; alice's
//    console shows the conversation as transferred.
// 2. On Acme's standalone chat page: after the same transfer, bob sends the
//    visitor back ("Send back to Acme Bank"); the page lands at Acme's chat with
//    its earlier conversation, and alice picks it up again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, frameOf, say, listItem, openFromList,
  openTransferDialog, screenshot, expectAccessible, TIMEOUT, TEST_TIMEOUT,
} from './harness.mjs';

function noErrors(...pages) {
  for (const p of pages) {
    assert.deepEqual(p.errors, [], p.errors.join('\n'));
    assert.deepEqual(p.dialogs, [], p.dialogs.join('\n'));
  }
}

function presence(scope, text) {
  return scope.getByRole('paragraph').filter({ hasText: text });
}

// A gate on the visitor's POST /transfer (the form the chat page submits when it
// is told to move): the request waits until `open()` is called, so that the
// moment before the browser leaves can be looked at. Only that request waits.
// `stay`: the transfer page comes without its Refresh header, so that it stays on
// screen and its "Stay" button can be pressed (as if the partner were unreachable).
async function gateTransferPage(page, { stay = false } = {}) {
  let arrived;
  const hit = new Promise((resolve) => (arrived = resolve));
  let release;
  const opened = new Promise((resolve) => (release = resolve));
  await page.route(/\/transfer$/, async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    arrived();
    await opened;
    if (!stay) return route.continue();
    const response = await route.fetch();
    const headers = { ...response.headers() };
    delete headers.refresh;
    return route.fulfill({ response, headers });
  });
  return {
    hit: () => Promise.race([
      hit,
      new Promise((_, reject) => setTimeout(() => reject(new Error('the chat page did not post /transfer')), TIMEOUT)),
    ]),
    open: () => release(),
  };
}

// alice, in the open conversation, transfers it to Northwind Insurance's Claims
// queue with `note`, through the Transfer dialog.
async function transferToNorthwind(alice, note) {
  const dialog = await openTransferDialog(alice);
  const partners = dialog.getByRole('group', { name: 'Partner organizations' });
  await partners.getByRole('radio', { name: 'Northwind Insurance' }).check();
  // The partner answers with the queues alice may send the visitor into, with their figures.
  const queues = dialog.getByRole('group', { name: 'Queues at Northwind Insurance' });
  await visible(queues.getByRole('radio', { name: 'Sales' }));
  const claims = queues.getByRole('radio', { name: 'Claims' });
  await visible(claims);
  await contains(queues, 'waiting');
  await claims.check();
  await dialog.getByRole('textbox', { name: 'Note' }).fill(note);
  return dialog;
}

test('a visitor on the widget is transferred from Acme Bank to Northwind Insurance with a note; bob answers', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const alice = await newPage(browser);
    await signIn(alice, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    // The visitor, on Acme Bank's website, opens the widget and writes.
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/demo`);
    await visitor.getByRole('button', { name: 'Chat with us' }).click();
    const chat = await frameOf(visitor, (url) => url.startsWith(`${server.acme}/chat?site=acme-web`));
    await visible(chat.getByRole('heading', { name: 'Chat with Acme Bank' }));
    await chat.getByRole('textbox', { name: 'Name' }).fill('Dana Scully');
    await say(chat, 'Someone hit my car in your car park');
    const acmeLog = chat.getByRole('log', { name: 'Transcript' });
    await contains(acmeLog, 'Alice joined the conversation');

    await openFromList(alice, 'Dana Scully');
    await say(alice, 'I am sorry to hear that. Our insurance partner handles this.');
    await contains(acmeLog, 'Our insurance partner handles this.');

    // alice picks Northwind Insurance, then its Claims queue, with a note.
    const gate = await gateTransferPage(visitor);
    const dialog = await transferToNorthwind(alice, 'Car park collision on 3 May; she has the other plate: KX-1234');
    await screenshot(alice, 'console-transfer-partner');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);

    // The visitor is told where they are going, in words naming the destination,
    // before the browser leaves; alice sees the visitor being moved.
    await gate.hit();
    await visible(chat.getByRole('status').filter({ hasText: 'Connecting you to Northwind Insurance' }));
    const status = alice.getByRole('region', { name: 'Transfer status' });
    await contains(status, 'Moving the visitor to Northwind Insurance');
    // Written while being moved: it goes along and is sent on arrival.
    await say(chat, 'My policy number is NW-5566');
    await contains(acmeLog, 'My policy number is NW-5566');
    await screenshot(visitor, 'chat-moving');
    await expectAccessible(chat, 'the chat page while the visitor is moved');
    gate.open();

    // The widget's frame is at Northwind Insurance now, with the earlier transcript.
    const north = await frameOf(visitor, (url) => url.startsWith(`${server.northwind}/chat`)).catch((e) => {
      throw new Error(`the widget's frame did not reach Northwind's chat page (${e.message}): ${visitor.errors.join(' | ')}`);
    });
    await visible(north.getByRole('heading', { name: 'Chat with Northwind Insurance' }));
    const northLog = north.getByRole('log', { name: 'Transcript' });
    await contains(northLog, 'Transferred from Acme Bank by Alice.');
    await contains(northLog, 'Someone hit my car in your car park');
    await contains(northLog, 'Our insurance partner handles this.');
    await contains(northLog, 'Alice (Acme Bank)');
    await contains(northLog, 'My policy number is NW-5566');
    await northLog.filter({ hasNotText: 'Sending' }).waitFor();
    // Nobody at Northwind is online yet: the visitor waits in line.
    await visible(north.getByRole('status').filter({ hasText: 'Nobody is online right now' }));
    await expectAccessible(north, 'the chat page at the partner, with the transcript from the origin');
    // The join code and the visitor's new token never show in the address.
    await north.waitForURL(`${server.northwind}/chat?site=northwind-web`, { timeout: TIMEOUT });
    // The launcher is still on Acme's page.
    await visible(visitor.getByRole('heading', { name: 'Banking that keeps up with you' }));

    // alice: transferred, in the status, the open view and the list.
    await contains(status, 'Transferred to Northwind Insurance');
    await visible(alice.getByText('Transferred to Northwind Insurance. This conversation goes on there.'));
    await contains(listItem(alice, 'Dana Scully').first(), 'Transferred to Northwind Insurance');
    await gone(alice.getByRole('textbox', { name: 'Message', exact: true }));
    await contains(alice.getByRole('list', { name: 'Transfers' }).getByRole('listitem'), 'Alice to Northwind Insurance (Claims)');
    await contains(alice.getByRole('list', { name: 'Transfers' }).getByRole('listitem'), 'Transferred');
    await screenshot(alice, 'console-transferred');

    // bob signs in at Northwind: the router gives him the visitor.
    const bob = await newPage(browser);
    await signIn(bob, server.northwind, 'bob');
    await contains(northLog, 'Bob joined the conversation.');
    await contains(listItem(bob, 'Dana Scully').first(), 'From Acme Bank');
    await openFromList(bob, 'Dana Scully');
    const context = bob.getByRole('region', { name: 'Transferred from Acme Bank' });
    await contains(context, 'Alice at Acme Bank transferred this visitor to the Claims queue');
    await contains(context.getByRole('figure', { name: 'Note from Alice at Acme Bank' }), 'she has the other plate: KX-1234');
    await visible(context.getByRole('button', { name: 'Send back to Acme Bank' }));
    const bobLog = bob.getByRole('log', { name: 'Transcript' });
    await contains(bobLog, 'Someone hit my car in your car park');
    await contains(bobLog, 'Alice (Acme Bank)');
    await contains(bobLog, 'Note from Alice at Acme Bank: Car park collision on 3 May');
    await contains(bobLog, 'My policy number is NW-5566');
    await screenshot(bob, 'console-partner-context');
    await expectAccessible(bob, 'the console with a conversation from a partner');

    await say(bob, 'Hello Dana, Bob from Northwind claims. I have your policy open.');
    await contains(northLog, 'Bob from Northwind claims');
    await visible(presence(north, 'Chatting with Bob'));
    await say(north, 'Thank you, Bob');
    await contains(bobLog, 'Thank you, Bob');
    await northLog.filter({ hasNotText: 'Sending' }).waitFor();
    await screenshot(visitor, 'chat-transferred');

    // The note stayed with the agents.
    assert.ok(!(await northLog.textContent()).includes('KX-1234'), 'the note reached the visitor');

    // The widget still works around the partner's chat page: minimize, and open again.
    const panel = visitor.getByRole('region', { name: 'Live chat' });
    await north.getByRole('button', { name: 'Minimize chat' }).click();
    await gone(panel);
    await visitor.getByRole('button', { name: 'Chat with us' }).click();
    await visible(panel);
    await contains(northLog, 'Bob from Northwind claims');
    noErrors(alice, bob, visitor);
  });
});

test('Northwind sends the visitor back: the chat page lands at Acme Bank with its earlier conversation', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const alice = await newPage(browser);
    await signIn(alice, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');
    const bob = await newPage(browser);
    await signIn(bob, server.northwind, 'bob');

    // The standalone chat page this time (no widget around it).
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await visitor.getByRole('textbox', { name: 'Name' }).fill('Fox Mulder');
    await say(visitor, 'Is travel insurance included with my card?');
    const vlog = visitor.getByRole('log', { name: 'Transcript' });
    await contains(vlog, 'Alice joined the conversation');
    await openFromList(alice, 'Fox Mulder');
    await say(alice, 'Let me pass you to Northwind Insurance.');
    await contains(vlog, 'Let me pass you to Northwind Insurance.');

    const dialog = await transferToNorthwind(alice, 'Asks about travel cover on the Gold card');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);

    // At Northwind (the whole page moved): bob is online and gets the visitor at once.
    await visitor.waitForURL(`${server.northwind}/chat?site=northwind-web`, { timeout: TIMEOUT });
    await visible(visitor.getByRole('heading', { name: 'Chat with Northwind Insurance' }));
    await contains(vlog, 'Bob joined the conversation.');
    await contains(vlog, 'Is travel insurance included with my card?');
    const status = alice.getByRole('region', { name: 'Transfer status' });
    await contains(status, 'Transferred to Northwind Insurance');

    await openFromList(bob, 'Fox Mulder');
    const context = bob.getByRole('region', { name: 'Transferred from Acme Bank' });
    await contains(context.getByRole('figure', { name: 'Note from Alice at Acme Bank' }), 'travel cover on the Gold card');
    await say(bob, 'Travel cover is a bank matter, I am sending you back.');
    await contains(vlog, 'I am sending you back.');
    await context.getByRole('button', { name: 'Send back to Acme Bank' }).click();

    // bob's console: sent back, the conversation over here.
    await contains(context, 'Sent back to Acme Bank');
    await gone(context.getByRole('button', { name: 'Send back to Acme Bank' }));
    await contains(listItem(bob, 'Fox Mulder').first(), 'Sent back to Acme Bank');
    await gone(bob.getByRole('textbox', { name: 'Message', exact: true }));

    // The visitor's page is back at Acme's chat, with the earlier conversation.
    await visitor.waitForURL(`${server.acme}/chat?site=acme-web`, { timeout: TIMEOUT });
    await visible(visitor.getByRole('heading', { name: 'Chat with Acme Bank' }));
    await contains(vlog, 'Northwind Insurance sent you back to Acme Bank.');
    await contains(vlog, 'Is travel insurance included with my card?');
    await contains(vlog, 'Let me pass you to Northwind Insurance.');
    // The router gives the reopened conversation to alice again.
    await visible(vlog.getByText('Alice joined the conversation.').nth(1));
    await visible(presence(visitor, 'Chatting with Alice'));
    await gone(visitor.getByRole('heading', { name: 'This conversation has ended' }));

    await contains(status, 'Northwind Insurance sent the visitor back');
    await say(visitor, 'Back at the bank again');
    await contains(alice.getByRole('log', { name: 'Transcript' }), 'Back at the bank again');
    await say(alice, 'Welcome back, Fox');
    await contains(vlog, 'Welcome back, Fox');
    noErrors(alice, bob, visitor);
  });
});

test('the visitor stays: back in the chat at Acme Bank, and what was written during the move reaches alice once', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const alice = await newPage(browser);
    await signIn(alice, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/demo`);
    await visitor.getByRole('button', { name: 'Chat with us' }).click();
    const chat = await frameOf(visitor, (url) => url.startsWith(`${server.acme}/chat?site=acme-web`));
    await chat.getByRole('textbox', { name: 'Name' }).fill('Walter Skinner');
    await say(chat, 'I need to report a stolen card');
    const log = chat.getByRole('log', { name: 'Transcript' });
    await contains(log, 'Alice joined the conversation');
    await openFromList(alice, 'Walter Skinner');

    const gate = await gateTransferPage(visitor, { stay: true });
    const dialog = await transferToNorthwind(alice, 'Stolen card, travel insurance question');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);
    await gate.hit();
    await visible(chat.getByRole('status').filter({ hasText: 'Connecting you to Northwind Insurance' }));
    await say(chat, 'The card ends in 4821');
    gate.open();

    // The transfer page names the destination and offers the way back.
    await visible(chat.getByRole('heading', { name: 'Connecting you to Northwind Insurance' }));
    await visible(chat.getByRole('button', { name: 'Continue to Northwind Insurance' }));
    await expectAccessible(chat, 'the transfer page');
    await chat.getByRole('button', { name: 'Stay with Acme Bank' }).click();

    // Back in Acme Bank's chat: the conversation goes on with alice.
    await chat.waitForURL(`${server.acme}/chat?site=acme-web`, { timeout: TIMEOUT });
    await visible(chat.getByRole('heading', { name: 'Chat with Acme Bank' }));
    await contains(log, 'I need to report a stolen card');
    await contains(log, 'You are back with Acme Bank');
    await contains(log, 'The card ends in 4821');
    await log.filter({ hasNotText: 'Sending' }).waitFor();
    const status = alice.getByRole('region', { name: 'Transfer status' });
    await contains(status, 'The conversation stays with you');
    const aliceLog = alice.getByRole('log', { name: 'Transcript' });
    await contains(aliceLog, 'The card ends in 4821');
    await say(alice, 'Thanks, I have blocked it');
    await contains(log, 'Thanks, I have blocked it');
    await visible(presence(chat, 'Chatting with Alice'));
    // The message written during the move was stored once.
    const text = await aliceLog.textContent();
    assert.equal(text.split('The card ends in 4821').length - 1, 1, text);

    // The join page, reached without a code, says what to do.
    const join = await newPage(browser);
    await join.goto(`${server.northwind}/join`);
    await visible(join.getByText('This link has no join code'));
    await expectAccessible(join, 'the join page');
    noErrors(alice, visitor, join);
  });
});
