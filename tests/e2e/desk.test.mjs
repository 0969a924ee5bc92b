// The console's list of conversations follows the server's desk, conversation and
// transfer events: each agent lists what is theirs, what waits in their queues and
// what is offered to them, says whose a listed conversation is when it is not
// theirs, and lets go of a conversation once a transfer made it someone else's,
// without a reload. The demo's Acme Bank has alice and carol in its General queue.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, say, listItem, openFromList, openTransferDialog,
  TEST_TIMEOUT,
} from './harness.mjs';

// alice has a visitor (the router gives it to her before carol signs in) and has it open.
async function aliceHasAVisitor(server, browser, visitorName) {
  const alice = await newPage(browser);
  await signIn(alice, server.acme, 'alice');
  await agentOnline(server.acme, 'acme-web');
  const visitor = await newPage(browser);
  await visitor.goto(`${server.acme}/chat?site=acme-web`);
  await visitor.getByRole('textbox', { name: 'Name' }).fill(visitorName);
  await say(visitor, `Hello, this is ${visitorName}`);
  await contains(visitor.getByRole('log', { name: 'Transcript' }), 'Alice joined the conversation');
  await openFromList(alice, visitorName);
  await visible(alice.getByRole('button', { name: 'Close conversation' }));
  const carol = await newPage(browser);
  await signIn(carol, server.acme, 'carol');
  return { alice, carol, visitor };
}

async function offerToCarol(alice, note) {
  const dialog = await openTransferDialog(alice);
  await dialog.getByRole('group', { name: 'Agents' }).getByRole('radio', { name: 'Carol' }).check();
  await dialog.getByRole('textbox', { name: 'Note' }).fill(note);
  await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
  await gone(dialog);
  await contains(alice.getByRole('region', { name: 'Transfer status' }), 'Offered to Carol');
}

function noErrors(...pages) {
  for (const p of pages) {
    assert.deepEqual(p.errors, [], p.errors.join('\n'));
    assert.deepEqual(p.dialogs, [], p.dialogs.join('\n'));
  }
}

test('carol declines alice\'s offer: the conversation leaves carol\'s list and stays in alice\'s, Active', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const { alice, carol, visitor } = await aliceHasAVisitor(server, browser, 'Emmy Noether');
    // Not carol's, not waiting: not in her list.
    assert.equal(await listItem(carol, 'Emmy Noether').count(), 0);

    await offerToCarol(alice, 'Savings question');
    // Offered to carol: listed, with whose it is.
    const offered = listItem(carol, 'Emmy Noether').first();
    await contains(offered, 'Transfer request from Alice');
    await contains(offered, 'With Alice');
    // alice's own: no owner named.
    const mine = listItem(alice, 'Emmy Noether').first();
    await contains(mine, 'Offered to Carol');
    assert.ok(!(await mine.textContent()).includes('With '), await mine.textContent());

    await openFromList(carol, 'Emmy Noether');
    const offer = carol.getByRole('region', { name: 'Transfer request' });
    await offer.getByRole('textbox', { name: 'Reason for declining' }).fill('On a call');
    await offer.getByRole('button', { name: 'Decline transfer' }).click();

    // carol: it is alice's again, so it leaves her list; what she sees says so.
    await gone(listItem(carol, 'Emmy Noether'));
    await contains(carol.getByRole('region', { name: 'Transfer status' }), 'You declined. The conversation stays with Alice.');
    await visible(carol.getByRole('paragraph').filter({ hasText: 'Active, with Alice' }));
    // alice: still hers, Active, and the decline is tagged.
    await contains(mine, 'Active');
    await contains(mine, 'Transfer declined');
    assert.ok(!(await mine.textContent()).includes('With '), await mine.textContent());
    await contains(alice.getByRole('region', { name: 'Transfer status' }), 'Carol declined: On a call');

    // After a reload the lists are the same.
    await carol.reload();
    await visible(carol.getByRole('list', { name: 'Queues' }).getByRole('listitem').first());
    assert.equal(await listItem(carol, 'Emmy Noether').count(), 0);
    await contains(listItem(alice, 'Emmy Noether').first(), 'Active');
    noErrors(alice, carol, visitor);
  });
});

test('alice hands a conversation to carol: it leaves alice\'s list and is carol\'s, Active', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const { alice, carol, visitor } = await aliceHasAVisitor(server, browser, 'Hypatia');
    await offerToCarol(alice, 'Mortgage renewal');
    await openFromList(carol, 'Transfer request from Alice');
    await carol.getByRole('region', { name: 'Transfer request' }).getByRole('button', { name: 'Accept transfer' }).click();

    // alice: it is carol's now, so it leaves alice's list; what alice sees says so.
    await gone(listItem(alice, 'Hypatia'));
    await contains(alice.getByRole('region', { name: 'Transfer status' }), 'Carol accepted');
    await visible(alice.getByRole('paragraph').filter({ hasText: 'Active, with Carol' }));
    // carol: hers, Active, no owner named.
    const hers = listItem(carol, 'Hypatia').first();
    await contains(hers, 'Active');
    await gone(hers.filter({ hasText: 'Transfer request' }));
    assert.ok(!(await hers.textContent()).includes('With '), await hers.textContent());
    await say(carol, 'Carol here, about your mortgage');
    await contains(visitor.getByRole('log', { name: 'Transcript' }), 'Carol here, about your mortgage');

    // After a reload the lists are the same.
    await alice.reload();
    await visible(alice.getByRole('list', { name: 'Queues' }).getByRole('listitem').first());
    assert.equal(await listItem(alice, 'Hypatia').count(), 0);
    await contains(listItem(carol, 'Hypatia').first(), 'Active');
    noErrors(alice, carol, visitor);
  });
});
