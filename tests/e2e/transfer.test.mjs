// Transfers inside one server (DESIGN.md §2.2): to an agent (accepted, declined,
// called off, not answered), to a queue, and the warm consult ending with a
// hand-over. The demo's Acme Bank has two agents in its General queue: alice and
// carol (password demo, capacity 3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, say, listItem, openFromList, openTransferDialog,
  screenshot, expectAccessible, TEST_TIMEOUT,
} from './harness.mjs';

// The server gives an agent 20 s to answer an offer; the sender is told after that.
const EXPIRY_WAIT = 45_000;

// alice signs in, a visitor starts a chat that the router gives to alice, and
// alice opens it; only then does carol sign in (so that the visitor is alice's).
async function aliceHasAVisitor(server, browser, visitorName, firstMessage) {
  const alice = await newPage(browser);
  await signIn(alice, server.acme, 'alice');
  await agentOnline(server.acme, 'acme-web');
  const visitor = await newPage(browser);
  await visitor.goto(`${server.acme}/chat?site=acme-web`);
  await visitor.getByRole('textbox', { name: 'Name' }).fill(visitorName);
  await say(visitor, firstMessage);
  const vlog = visitor.getByRole('log', { name: 'Transcript' });
  await contains(vlog, 'Alice joined the conversation');
  await openFromList(alice, visitorName);
  await visible(alice.getByRole('button', { name: 'Close conversation' }));
  const carol = await newPage(browser);
  await signIn(carol, server.acme, 'carol');
  return { alice, carol, visitor, vlog };
}

// Picks a destination in the Transfer dialog and writes the note.
async function pick(dialog, group, name, note) {
  await dialog.getByRole('group', { name: group }).getByRole('radio', { name }).check();
  if (note !== undefined) await dialog.getByRole('textbox', { name: 'Note' }).fill(note);
}

function presence(visitor, text) {
  return visitor.getByRole('paragraph').filter({ hasText: text });
}

function noErrors(...pages) {
  for (const p of pages) {
    assert.deepEqual(p.errors, [], p.errors.join('\n'));
    assert.deepEqual(p.dialogs, [], p.dialogs.join('\n'));
  }
}

test('alice transfers a visitor to carol with a note; carol reads it and accepts; the visitor talks with carol', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const { alice, carol, visitor, vlog } = await aliceHasAVisitor(server, browser, 'Ada Lovelace', 'I would like to refinance my mortgage');
    await say(alice, 'Let me find the right person for you');
    await contains(vlog, 'Let me find the right person for you');

    const dialog = await openTransferDialog(alice);
    await visible(dialog.getByRole('group', { name: 'Partner organizations' }).getByRole('radio', { name: 'Northwind Insurance' }));
    await pick(dialog, 'Agents', 'Carol', 'Refinancing: her fixed rate ends in March');
    await visible(dialog.getByRole('button', { name: 'Consult first' }));
    await screenshot(alice, 'console-transfer');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);

    // The sender sees the transfer in flight, with the time left.
    const status = alice.getByRole('region', { name: 'Transfer status' });
    await contains(status, 'Offered to Carol');
    await contains(status, 's left');
    await visible(status.getByRole('button', { name: 'Cancel transfer' }));
    await gone(alice.getByRole('button', { name: 'Transfer', exact: true }));

    // carol: the request is in her list; the note stands out; the transcript is there to read.
    await visible(listItem(carol, 'Transfer request from Alice').first());
    await openFromList(carol, 'Transfer request from Alice');
    const offer = carol.getByRole('region', { name: 'Transfer request' });
    await visible(offer);
    await contains(offer.getByRole('figure', { name: 'Note from Alice' }), 'Refinancing: her fixed rate ends in March');
    const carolLog = carol.getByRole('log', { name: 'Transcript' });
    await contains(carolLog, 'I would like to refinance my mortgage');
    await contains(carolLog, 'Let me find the right person for you');
    await screenshot(carol, 'console-transfer-offer');
    await expectAccessible(carol, 'the console with a transfer request');
    await offer.getByRole('button', { name: 'Accept transfer' }).click();
    await gone(offer);

    // carol has the conversation, and the note stays in view.
    await visible(carol.getByRole('button', { name: 'Close conversation' }));
    const received = carol.getByRole('region', { name: 'Transferred to you' });
    await contains(received.getByRole('figure', { name: 'Note from Alice' }), 'her fixed rate ends in March');
    await contains(status, 'Carol accepted');

    // The visitor reads it naturally and talks with carol.
    await contains(vlog, 'Alice transferred the conversation to Carol.');
    await contains(vlog, 'Carol joined the conversation.');
    await say(carol, 'Hello Ada, Carol here: I can help with refinancing.');
    await contains(vlog, 'Carol here: I can help with refinancing.');
    await visible(presence(visitor, 'Chatting with Carol'));
    await say(visitor, 'Thank you, Carol');
    await contains(carolLog, 'Thank you, Carol');
    assert.ok(!(await vlog.textContent()).includes('fixed rate ends'), 'the note reached the visitor');

    // Both consoles show the transfer in the history.
    for (const page of [alice, carol]) {
      const history = page.getByRole('list', { name: 'Transfers' });
      await contains(history.getByRole('listitem'), 'Alice to Carol');
      await contains(history.getByRole('listitem'), 'Accepted');
    }
    noErrors(alice, carol, visitor);
  });
});

test('carol declines, a transfer is called off, another is not answered: alice is told each time and keeps the chat', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const { alice, carol, visitor, vlog } = await aliceHasAVisitor(server, browser, 'Blaise Pascal', 'Question about my card limit');
    const status = alice.getByRole('region', { name: 'Transfer status' });

    // Declined, with a reason.
    let dialog = await openTransferDialog(alice);
    await pick(dialog, 'Agents', 'Carol', 'Card limit question');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);
    await contains(status, 'Offered to Carol');
    await openFromList(carol, 'Transfer request from Alice');
    const offer = carol.getByRole('region', { name: 'Transfer request' });
    await contains(offer.getByRole('figure', { name: 'Note from Alice' }), 'Card limit question');
    await offer.getByRole('textbox', { name: 'Reason for declining' }).fill('In a call for ten minutes');
    await offer.getByRole('button', { name: 'Decline transfer' }).click();
    await contains(status, 'Carol declined: In a call for ten minutes');
    await contains(status, 'stays with you');
    await gone(offer);
    await contains(carol.getByRole('region', { name: 'Transfer status' }), 'You declined');

    // alice still has the visitor, who noticed nothing.
    await visible(alice.getByRole('button', { name: 'Close conversation' }));
    await say(alice, 'Still with you, Blaise');
    await contains(vlog, 'Still with you, Blaise');
    await visible(presence(visitor, 'Chatting with Alice'));

    // Called off by alice before carol answers.
    await status.getByRole('button', { name: 'Dismiss' }).click();
    await gone(status);
    dialog = await openTransferDialog(alice);
    await pick(dialog, 'Agents', 'Carol', 'Second try');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await contains(status, 'Offered to Carol');
    await visible(carol.getByRole('region', { name: 'Transfer request' }));
    await status.getByRole('button', { name: 'Cancel transfer' }).click();
    await contains(status, 'You called the transfer off');
    await contains(carol.getByRole('region', { name: 'Transfer status' }), 'Alice called the transfer off');
    await gone(carol.getByRole('region', { name: 'Transfer request' }));

    // Not answered in time (20 s): alice is told and keeps the chat.
    await status.getByRole('button', { name: 'Dismiss' }).click();
    dialog = await openTransferDialog(alice);
    await pick(dialog, 'Agents', 'Carol', 'Third try');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await contains(status, 'Offered to Carol');
    await contains(status, 'Carol did not answer in time', EXPIRY_WAIT);
    await contains(status, 'stays with you');
    await contains(carol.getByRole('region', { name: 'Transfer status' }), 'You did not answer in time');
    await say(alice, 'Alice again, sorry for the wait');
    await contains(vlog, 'Alice again, sorry for the wait');

    const text = await vlog.textContent();
    assert.ok(!text.includes('transferred'), `the visitor saw a transfer: ${text}`);
    const history = alice.getByRole('list', { name: 'Transfers' }).getByRole('listitem');
    await contains(history, 'Not answered in time');
    assert.equal(await history.count(), 3);
    const items = await history.allTextContents();
    assert.ok(items[0].includes('Declined') && items[1].includes('Called off') && items[2].includes('Not answered'), JSON.stringify(items));
    noErrors(alice, carol, visitor);
  });
});

test('alice passes a conversation to the General queue with a note; carol gets it and sees the note', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const { alice, carol, visitor, vlog } = await aliceHasAVisitor(server, browser, 'Charles Babbage', 'Where is my new card?');
    const dialog = await openTransferDialog(alice);
    await pick(dialog, 'Queues', 'General', 'Card sent on Monday to the old address');
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await gone(dialog);
    await contains(alice.getByRole('region', { name: 'Transfer status' }), 'Passed to the General queue');

    // The router gives it to carol, who has waited longest; the visitor is told.
    await contains(vlog, 'Alice passed the conversation to the General queue.');
    await contains(vlog, 'Carol joined the conversation.');
    await openFromList(carol, 'Charles Babbage');
    await visible(carol.getByRole('button', { name: 'Close conversation' }));
    const received = carol.getByRole('region', { name: 'Transferred to you' });
    await contains(received, 'General queue');
    await contains(received.getByRole('figure', { name: 'Note from Alice' }), 'Card sent on Monday to the old address');
    await contains(carol.getByRole('log', { name: 'Transcript' }), 'Where is my new card?');
    await say(carol, 'Carol here: I will send a new card to your new address.');
    await contains(vlog, 'I will send a new card');
    await visible(presence(visitor, 'Chatting with Carol'));
    assert.ok(!(await vlog.textContent()).includes('old address'), 'the note reached the visitor');
    await contains(carol.getByRole('list', { name: 'Transfers' }).getByRole('listitem'), 'Alice to the General queue');
    noErrors(alice, carol, visitor);
  });
});

test('a warm consult: private notes, carol leaves; again, carol is brought in and alice hands over', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const { alice, carol, visitor, vlog } = await aliceHasAVisitor(server, browser, 'Grace Hopper', 'I want to open a business account');

    let dialog = await openTransferDialog(alice);
    await pick(dialog, 'Agents', 'Carol', 'Business account: are you free?');
    await dialog.getByRole('button', { name: 'Consult first' }).click();
    await gone(dialog);
    let aliceConsult = alice.getByRole('region', { name: 'Consultation with Carol' });
    await contains(aliceConsult.getByRole('log', { name: 'Consultation notes' }), 'Business account: are you free?');

    // carol is asked, reads, answers privately, and leaves.
    await visible(listItem(carol, 'Consultation with Alice').first());
    await openFromList(carol, 'Consultation with Alice');
    let carolConsult = carol.getByRole('region', { name: 'Consultation with Alice' });
    await contains(carolConsult.getByRole('log', { name: 'Consultation notes' }), 'Business account: are you free?');
    await contains(carol.getByRole('log', { name: 'Transcript' }), 'I want to open a business account');
    await carolConsult.getByRole('textbox', { name: 'Note to Alice' }).fill('Not right now, sorry');
    await carolConsult.getByRole('button', { name: 'Send note' }).click();
    await contains(aliceConsult.getByRole('log', { name: 'Consultation notes' }), 'Not right now, sorry');
    await carolConsult.getByRole('button', { name: 'Leave consultation' }).click();
    const status = alice.getByRole('region', { name: 'Transfer status' });
    await contains(status, 'Carol left the consultation');
    await gone(aliceConsult);
    await visible(alice.getByRole('button', { name: 'Close conversation' }));

    // Again: carol agrees, alice brings her in (three-way), then hands over and leaves.
    await status.getByRole('button', { name: 'Dismiss' }).click();
    dialog = await openTransferDialog(alice);
    await pick(dialog, 'Agents', 'Carol', 'Business account, second try');
    await dialog.getByRole('button', { name: 'Consult first' }).click();
    await gone(dialog);
    aliceConsult = alice.getByRole('region', { name: 'Consultation with Carol' });
    carolConsult = carol.getByRole('region', { name: 'Consultation with Alice' });
    await contains(carolConsult.getByRole('log', { name: 'Consultation notes' }), 'Business account, second try');
    await carolConsult.getByRole('textbox', { name: 'Note to Alice' }).fill('Yes, bring me in');
    await carolConsult.getByRole('button', { name: 'Send note' }).click();
    await contains(aliceConsult.getByRole('log', { name: 'Consultation notes' }), 'Yes, bring me in');
    await screenshot(alice, 'console-consult');
    await expectAccessible(alice, 'the console during a consultation');
    await aliceConsult.getByRole('button', { name: 'Bring into conversation' }).click();
    await contains(vlog, 'Carol joined the conversation.');
    await visible(presence(visitor, 'Chatting with Alice and Carol'));
    await gone(aliceConsult.getByRole('button', { name: 'Bring into conversation' }));
    await say(carol, 'Hello Grace, I am Carol, our business account specialist.');
    await contains(vlog, 'our business account specialist');

    await aliceConsult.getByRole('button', { name: 'Hand over and leave' }).click();
    await contains(vlog, 'Alice left the conversation.');
    await visible(presence(visitor, 'Chatting with Carol'));
    await contains(status, 'You handed the conversation over to Carol');
    await visible(carol.getByRole('button', { name: 'Close conversation' }));
    await gone(carolConsult);
    await contains(carol.getByRole('region', { name: 'Transferred to you' }), 'Alice handed this conversation over to you');
    await say(visitor, 'Great, thanks Carol');
    await contains(carol.getByRole('log', { name: 'Transcript' }), 'Great, thanks Carol');
    await say(carol, 'Let us start with your company name.');
    await contains(vlog, 'Let us start with your company name.');

    // The private notes never reached the visitor; nobody left the visitor waiting.
    const text = await vlog.textContent();
    for (const secret of ['are you free', 'Not right now', 'bring me in']) assert.ok(!text.includes(secret), `${secret} reached the visitor`);
    assert.ok(!text.includes('in line'), text);
    const history = alice.getByRole('list', { name: 'Transfers' }).getByRole('listitem');
    await contains(history, 'Handed over');
    const items = await history.allTextContents();
    assert.equal(items.length, 2, JSON.stringify(items));
    assert.ok(items[0].includes('Alice consulted Carol') && items[0].includes('Declined'), JSON.stringify(items));
    noErrors(alice, carol, visitor);
  });
});
