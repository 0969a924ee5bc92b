// The agent console: status, internal notes, the Transfer dialog, waiting and claiming, signing out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, say, listItem, openFromList, openTransferDialog,
  expectAccessible, TEST_TIMEOUT,
} from './harness.mjs';

test('the console: sign-in errors, status, unread counts and title, typing, notes and the Transfer dialog', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    // A wrong password is refused with a message.
    await agent.goto(`${server.acme}/console`);
    await visible(agent.getByRole('button', { name: 'Sign in' }));
    await expectAccessible(agent, 'the sign-in form');
    await agent.getByRole('textbox', { name: 'Username' }).fill('alice');
    await agent.getByRole('textbox', { name: 'Password' }).fill('not the password');
    await agent.getByRole('button', { name: 'Sign in' }).click();
    await visible(agent.getByRole('alert').filter({ hasText: 'do not match' }));
    await expectAccessible(agent, 'the sign-in form with its error');
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    // Away: nobody is online for visitors; online again: they can chat.
    const status = agent.getByRole('combobox', { name: 'Status' });
    assert.equal(await status.inputValue(), 'online');
    const options = await status.getByRole('option').allTextContents();
    assert.deepEqual(options.map((o) => o.trim()), ['online', 'away', 'offline']);
    await status.selectOption('away');
    const deadline = Date.now() + 20_000;
    for (;;) {
      const a = await (await fetch(`${server.acme}/api/visitor/availability?site=acme-web`)).json();
      if (!a.online) break;
      assert.ok(Date.now() < deadline, 'alice stayed online after choosing away');
      await new Promise((r) => setTimeout(r, 100));
    }
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await visible(visitor.getByRole('form', { name: 'Leave a message' }));
    await status.selectOption('online');
    await agentOnline(server.acme, 'acme-web');

    // Two visitors; the second arrives while alice reads the first: unread count and title.
    await visitor.reload();
    await say(visitor, 'First visitor here');
    await openFromList(agent, 'First visitor here');
    const second = await newPage(browser);
    await second.goto(`${server.acme}/chat?site=acme-web`);
    await second.getByRole('textbox', { name: 'Name' }).fill('Second Visitor');
    await say(second, 'Second visitor, one');
    await agent.waitForFunction(() => /^\(1\) /.test(document.title), null, { timeout: 20_000 });
    await say(second, 'Second visitor, two');
    const secondItem = listItem(agent, 'Second Visitor').first();
    await contains(secondItem, '2 unread messages');
    // Newest first: the second visitor's conversation is above the first.
    const items = await agent.getByRole('list', { name: 'Conversations' }).getByRole('listitem').allTextContents();
    assert.ok(items[0].includes('Second Visitor'), `not newest first: ${JSON.stringify(items)}`);
    await openFromList(agent, 'Second Visitor');
    await gone(secondItem.filter({ hasText: 'unread' }));
    await agent.waitForFunction(() => !/^\(\d+\) /.test(document.title), null, { timeout: 20_000 });

    // Typing shows on the other side.
    await second.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('I am typ');
    await contains(agent.getByRole('paragraph').filter({ hasText: 'is typing' }), 'Second Visitor is typing');

    // An internal note is marked as such and never reaches the visitor.
    await agent.getByRole('checkbox', { name: 'Internal note' }).check();
    await say(agent, 'Customer seems to be a VIP');
    const agentLog = agent.getByRole('log', { name: 'Transcript' });
    await contains(agentLog, 'Internal note');
    await agent.getByRole('checkbox', { name: 'Internal note' }).uncheck();
    await say(agent, 'Hello second visitor');
    const secondLog = second.getByRole('log', { name: 'Transcript' });
    await contains(secondLog, 'Hello second visitor');
    assert.ok(!(await secondLog.textContent()).includes('VIP'));
    await agentLog.filter({ hasNotText: 'Sending' }).waitFor();
    await expectAccessible(agent, 'the console with a conversation open');

    // The Transfer dialog: destinations grouped, a note, confirm and cancel (the
    // transfers themselves are in transfer.test.mjs).
    const dialog = await openTransferDialog(agent);
    await visible(dialog.getByRole('group', { name: 'Agents' }).getByRole('radio', { name: 'Carol' }));
    await visible(dialog.getByRole('group', { name: 'Queues' }).getByRole('radio', { name: 'General' }));
    await expectAccessible(agent, 'the Transfer dialog');
    // Partners are listed; picking one would ask it at once (federation.test.mjs), so not here.
    await visible(dialog.getByRole('group', { name: 'Partner organizations' }).getByRole('radio', { name: 'Northwind Insurance' }));
    // Nothing picked: the dialog says so and stays open.
    await dialog.getByRole('button', { name: 'Transfer', exact: true }).click();
    await visible(dialog.getByRole('status').filter({ hasText: 'Pick where' }));
    // "Consult first" is offered for an agent only.
    await dialog.getByRole('group', { name: 'Queues' }).getByRole('radio', { name: 'General' }).check();
    await gone(dialog.getByRole('button', { name: 'Consult first' }));
    await dialog.getByRole('group', { name: 'Agents' }).getByRole('radio', { name: 'Carol' }).check();
    await visible(dialog.getByRole('button', { name: 'Consult first' }));
    await dialog.getByRole('textbox', { name: 'Note' }).fill('Asked about a VIP account');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await gone(dialog);
    // Cancelled: nothing was sent, the conversation is still alice's.
    await visible(agent.getByRole('button', { name: 'Transfer', exact: true }));
    assert.equal(await agent.getByRole('region', { name: 'Transfer status' }).count(), 0);
    // Carol is offline: a transfer to her is refused with the reason, and nothing changes.
    const again = await openTransferDialog(agent);
    await again.getByRole('group', { name: 'Agents' }).getByRole('radio', { name: 'Carol' }).check();
    await again.getByRole('button', { name: 'Transfer', exact: true }).click();
    await visible(again.getByRole('status').filter({ hasText: 'Carol is not online' }));
    await again.getByRole('button', { name: 'Cancel' }).click();
    await gone(again);
    await say(agent, 'Still here');
    await contains(secondLog, 'Still here');
    assert.deepEqual(agent.errors, [], agent.errors.join('\n'));
  });
});

test('signing out returns to the sign-in form and ends the session', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agent.getByRole('button', { name: 'Sign out' }).click();
    await visible(agent.getByRole('button', { name: 'Sign in' }));
    await agent.reload();
    await visible(agent.getByRole('button', { name: 'Sign in' }));
    // The session cookie no longer opens the API.
    const res = await agent.request.get(`${server.acme}/api/agent/me`);
    assert.equal(res.status(), 401);
    // And signing in again works.
    await signIn(agent, server.acme, 'alice');
  });
});

test('a waiting conversation can be taken from the queue', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    // With alice away, a visitor waits in line and sees their place.
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await visible(visitor.getByRole('textbox', { name: 'Message', exact: true }));
    await agent.getByRole('combobox', { name: 'Status' }).selectOption('away');
    await say(visitor, 'Is anybody there?');
    await contains(visitor.getByRole('log', { name: 'Transcript' }), 'Is anybody there?');
    await visible(visitor.getByRole('status').filter({ hasText: 'in line' }).or(visitor.getByRole('status').filter({ hasText: 'Nobody is online' })).first());

    const item = listItem(agent, 'Is anybody there?').first();
    await contains(item, 'Waiting');
    await openFromList(agent, 'Is anybody there?');
    await agent.getByRole('button', { name: 'Take conversation' }).click();
    await visible(agent.getByRole('button', { name: 'Close conversation' }));
    await say(agent, 'Yes, Alice is here');
    await contains(visitor.getByRole('log', { name: 'Transcript' }), 'Yes, Alice is here');
  });
});
