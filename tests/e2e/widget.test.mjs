// The widget on Acme Bank's demo website: it opens the chat, the visitor and
// alice talk both ways, and it closes again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, frameOf, say, listItem, openFromList, screenshot, TIMEOUT,
  TEST_TIMEOUT,
} from './harness.mjs';

test('the widget on the demo site opens, and the visitor chats with alice and back', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/demo`);
    await visible(visitor.getByRole('heading', { name: 'Banking that keeps up with you' }));
    const launcher = visitor.getByRole('button', { name: 'Chat with us' });
    await visible(launcher);
    assert.equal(await launcher.getAttribute('aria-expanded'), 'false');

    await launcher.click();
    const panel = visitor.getByRole('region', { name: 'Live chat' });
    await visible(panel);
    assert.equal(await launcher.getAttribute('aria-expanded'), 'true');
    const chat = await frameOf(visitor, (url) => url.includes('/chat?site=acme-web'));
    await visible(chat.getByRole('heading', { name: 'Chat with Acme Bank' }));
    // The host page's address reached the chat page, and left its address bar again.
    assert.ok(!chat.url().includes('#'), `the fragment stays in the chat page's address: ${chat.url()}`);

    await say(chat, 'Hello from the widget, I need help with my card');
    const visitorLog = chat.getByRole('log', { name: 'Transcript' });
    await contains(visitorLog, 'Hello from the widget');

    // The conversation arrives at alice's console: listed with its last message, counted in the title.
    await visible(listItem(agent, 'Hello from the widget').first());
    await agent.waitForFunction(() => /^\(\d+\) /.test(document.title), null, { timeout: TIMEOUT });
    await openFromList(agent, 'Hello from the widget');
    const agentLog = agent.getByRole('log', { name: 'Transcript' });
    await contains(agentLog, 'I need help with my card');
    await visible(agent.getByRole('button', { name: 'Close conversation' }));
    await visible(agent.getByRole('button', { name: 'Transfer', exact: true }));
    // Visitor details: the page they came from.
    await contains(agent.getByRole('complementary', { name: 'Visitor' }), '/demo');

    // Typing shows on the visitor's side.
    await agent.getByRole('textbox', { name: 'Message', exact: true }).pressSequentially('Hi, this');
    await visible(chat.getByRole('paragraph').filter({ hasText: 'Alice is typing' }));
    await say(agent, 'Hi, this is Alice. Let me look at your card.');
    await contains(visitorLog, 'Hi, this is Alice');
    await contains(agentLog, 'Hi, this is Alice');

    await say(chat, 'Thank you!');
    await contains(agentLog, 'Thank you!');
    await contains(listItem(agent, 'Thank you!').first(), 'Thank you!');

    await visitorLog.filter({ hasNotText: 'Sending' }).waitFor();
    await screenshot(visitor, 'widget');
    await screenshot(agent, 'console');

    // The launcher closes the panel again, and the page is still there.
    await launcher.click();
    await gone(panel);
    assert.equal(await launcher.getAttribute('aria-expanded'), 'false');
    await visible(visitor.getByRole('heading', { name: 'Banking that keeps up with you' }));

    assert.deepEqual(visitor.dialogs, []);
    assert.deepEqual(agent.dialogs, []);
    assert.deepEqual(visitor.errors, [], visitor.errors.join('\n'));
    assert.deepEqual(agent.errors, [], agent.errors.join('\n'));
  });
});
