// Markup typed by people is shown as text on both pages and never runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withWorld, newPage, signIn, agentOnline, visible, contains, say, listItem, openFromList, TEST_TIMEOUT } from './harness.mjs';

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
