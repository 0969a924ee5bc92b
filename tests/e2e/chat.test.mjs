// The visitor's chat page on its own: reload, closing, the offline form, a phone screen.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  withWorld, newPage, signIn, agentOnline, visible, gone, contains, say, listItem, openFromList, screenshot, occurrences,
  expectAccessible, TEST_TIMEOUT,
} from './harness.mjs';

test('the visitor reloads the page and the transcript is still there, once', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await visible(visitor.getByRole('textbox', { name: 'Message', exact: true }));
    await expectAccessible(visitor, 'the chat page before the first message');
    await visitor.getByRole('textbox', { name: 'Name' }).fill('Grace Hopper');
    await visitor.getByRole('textbox', { name: 'E-mail' }).fill('grace@example.com');
    await say(visitor, 'First question about my savings');
    const log = visitor.getByRole('log', { name: 'Transcript' });
    await contains(log, 'First question about my savings');

    await openFromList(agent, 'Grace Hopper');
    const details = agent.getByRole('complementary', { name: 'Visitor' });
    await contains(details, 'grace@example.com');
    await say(agent, 'Answer from Alice about savings');
    await contains(log, 'Answer from Alice about savings');
    await say(visitor, 'Second message before reload');
    await contains(agent.getByRole('log', { name: 'Transcript' }), 'Second message before reload');
    // The visitor's own messages, the agent's, and a system line ("Alice joined…").
    await contains(log, 'Alice joined the conversation.');
    await log.filter({ hasNotText: 'Sending' }).waitFor();
    await expectAccessible(visitor, 'the chat page with messages');

    await visitor.reload();
    const again = visitor.getByRole('log', { name: 'Transcript' });
    await contains(again, 'Second message before reload');
    await contains(again, 'Answer from Alice about savings');
    const text = await again.textContent();
    assert.equal(occurrences(text, 'First question about my savings'), 1, text);
    assert.equal(occurrences(text, 'Answer from Alice about savings'), 1, text);
    assert.equal(occurrences(text, 'Second message before reload'), 1, text);
    assert.ok(text.indexOf('First question') < text.indexOf('Answer from Alice') &&
      text.indexOf('Answer from Alice') < text.indexOf('Second message'), `out of order: ${text}`);
    // The conversation goes on after the reload, both ways.
    await say(visitor, 'Third message after reload');
    await contains(agent.getByRole('log', { name: 'Transcript' }), 'Third message after reload');
    await say(agent, 'Alice still here');
    await contains(again, 'Alice still here');
    // Nothing secret in the address bar.
    assert.ok(!visitor.url().includes('token'), visitor.url());
    assert.deepEqual(visitor.errors, [], visitor.errors.join('\n'));
  });
});

test('the agent closes the conversation and the visitor is told', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await say(visitor, 'Please close this chat when done');
    await openFromList(agent, 'Please close this chat');
    await say(agent, 'All done, closing now');
    const log = visitor.getByRole('log', { name: 'Transcript' });
    await contains(log, 'All done, closing now');

    await agent.getByRole('button', { name: 'Close conversation' }).click();
    await visible(visitor.getByRole('heading', { name: 'This conversation has ended' }));
    await contains(log, 'Alice closed the conversation.');
    await gone(visitor.getByRole('textbox', { name: 'Message', exact: true }));
    await visible(visitor.getByRole('button', { name: 'Start a new conversation' }));
    await expectAccessible(visitor, 'the chat page once the conversation ended');
    // The console shows it closed, with nothing left to type into.
    await gone(agent.getByRole('button', { name: 'Close conversation' }));
    await gone(agent.getByRole('textbox', { name: 'Message', exact: true }));
    await contains(listItem(agent, 'All done, closing now').first(), 'Closed');

    // After a reload the console finds it among the closed conversations, transcript included.
    await agent.reload();
    await visible(agent.getByRole('combobox', { name: 'Status' }));
    await agent.getByRole('button', { name: 'Show closed conversations' }).click();
    await openFromList(agent, 'All done, closing now');
    await contains(agent.getByRole('log', { name: 'Transcript' }), 'Please close this chat when done');
    await visible(agent.getByRole('button', { name: 'Save transcript' }));

    // After a reload the visitor still sees that it ended.
    await visitor.reload();
    await visible(visitor.getByRole('heading', { name: 'This conversation has ended' }));
    // And can start again.
    await visitor.getByRole('button', { name: 'Start a new conversation' }).click();
    await visible(visitor.getByRole('textbox', { name: 'Message', exact: true }));
    assert.deepEqual(visitor.errors, [], visitor.errors.join('\n'));
  });
});

test('with nobody online the visitor gets the offline form, and the message reaches the console', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    const form = visitor.getByRole('form', { name: 'Leave a message' });
    await visible(form);
    await expectAccessible(visitor, 'the offline form');
    // The e-mail address is needed to answer.
    await form.getByRole('textbox', { name: 'Message' }).fill('Please call me back about my mortgage');
    await form.getByRole('button', { name: 'Send' }).click();
    await visible(form.getByRole('alert').filter({ hasText: 'e-mail' }));

    await form.getByRole('textbox', { name: 'Name' }).fill('Ada Lovelace');
    await form.getByRole('textbox', { name: 'E-mail' }).fill('ada@example.com');
    await form.getByRole('button', { name: 'Send' }).click();
    await gone(form);
    const log = visitor.getByRole('log', { name: 'Transcript' });
    await contains(log, 'Please call me back about my mortgage');
    await visible(visitor.getByRole('status').filter({ hasText: 'we have your message' }));

    // alice signs in afterwards and finds it.
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    const item = listItem(agent, 'Ada Lovelace').first();
    await contains(item, 'Please call me back about my mortgage');
    await openFromList(agent, 'Ada Lovelace');
    await contains(agent.getByRole('log', { name: 'Transcript' }), 'Please call me back about my mortgage');
    await contains(agent.getByRole('complementary', { name: 'Visitor' }), 'ada@example.com');

    // The visitor, still on the page, gets the answer live.
    await visible(agent.getByRole('button', { name: 'Close conversation' }));
    await say(agent, 'Hello Ada, Alice here');
    await contains(log, 'Hello Ada, Alice here');
    assert.deepEqual(visitor.errors, [], visitor.errors.join('\n'));
  });
});

test('the chat page works on a 375-pixel-wide phone screen, by keyboard alone', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');

    const visitor = await newPage(browser, { viewport: { width: 375, height: 667 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    const box = visitor.getByRole('textbox', { name: 'Message', exact: true });
    await visible(box);

    // Keyboard only: Tab reaches the message box, Enter sends.
    let focused = false;
    for (let i = 0; i < 10 && !focused; i += 1) {
      await visitor.keyboard.press('Tab');
      focused = await box.evaluate((el) => el === document.activeElement);
    }
    assert.ok(focused, 'Tab never reached the Message box');
    await visitor.keyboard.type('Typed on a phone with a keyboard');
    await visitor.keyboard.press('Enter');
    const log = visitor.getByRole('log', { name: 'Transcript' });
    await contains(log, 'Typed on a phone with a keyboard');

    await openFromList(agent, 'Typed on a phone');
    await say(agent, 'Hello! A long answer to check wrapping: https://www.acme-bank.example/help/cards/lost-or-stolen/what-to-do-next');
    await contains(log, 'A long answer to check wrapping');
    await say(visitor, 'Averyveryveryveryveryveryveryveryveryveryverylongwordwithoutanyspacesatall');
    await contains(log, 'Averyvery');

    // Nothing sticks out sideways, and the controls are on screen.
    const width = await visitor.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide`);
    for (const locator of [box, visitor.getByRole('button', { name: 'Send', exact: true }), log]) {
      const b = await locator.boundingBox();
      assert.ok(b && b.x >= 0 && b.x + b.width <= 375.5, `off screen: ${JSON.stringify(b)}`);
    }
    const send = await visitor.getByRole('button', { name: 'Send', exact: true }).boundingBox();
    assert.ok(send.height >= 40, `the Send button is ${send.height} px tall, too small to tap`);
    await log.filter({ hasNotText: 'Sending' }).waitFor();
    await screenshot(visitor, 'chat');

    // The visitor may end the chat too; the agent sees it closed.
    await visitor.getByRole('button', { name: 'End chat' }).click();
    await visible(visitor.getByRole('heading', { name: 'This conversation has ended' }));
    await contains(log, 'The visitor ended the chat.');
    await gone(agent.getByRole('button', { name: 'Close conversation' }));
    assert.deepEqual(visitor.errors, [], visitor.errors.join('\n'));
  });
});

test('after the server restarts, both pages reconnect by themselves and nothing is lost or doubled', { timeout: TEST_TIMEOUT }, async () => {
  await withWorld(async ({ server, browser }) => {
    const agent = await newPage(browser);
    await signIn(agent, server.acme, 'alice');
    await agentOnline(server.acme, 'acme-web');
    const visitor = await newPage(browser);
    await visitor.goto(`${server.acme}/chat?site=acme-web`);
    await say(visitor, 'Before the restart');
    await openFromList(agent, 'Before the restart');
    await say(agent, 'Alice before the restart');
    const log = visitor.getByRole('log', { name: 'Transcript' });
    const agentLog = agent.getByRole('log', { name: 'Transcript' });
    await contains(log, 'Alice before the restart');

    await server.restart(async () => {
      // While the server is down the visitor is told, and can still write.
      await visible(visitor.getByRole('status').filter({ hasText: 'Reconnecting' }));
      await say(visitor, 'Written while the server was down');
      await contains(log, 'Sending');
    });

    // The unsent message goes out once the page is back, exactly once on both sides.
    await contains(agentLog, 'Written while the server was down');
    await gone(visitor.getByRole('status').filter({ hasText: 'Reconnecting' }));
    await log.filter({ hasNotText: 'Sending' }).waitFor();
    await say(agent, 'Alice after the restart');
    await contains(log, 'Alice after the restart');
    await say(visitor, 'Visitor after the restart');
    await contains(agentLog, 'Visitor after the restart');
    for (const [where, name] of [[log, 'visitor'], [agentLog, 'agent']]) {
      const text = await where.textContent();
      for (const m of ['Before the restart', 'Alice before the restart', 'Written while the server was down',
        'Alice after the restart', 'Visitor after the restart']) {
        assert.equal(occurrences(text, m), 1, `${name} transcript has "${m}" ${occurrences(text, m)} times: ${text}`);
      }
    }
    assert.deepEqual(visitor.errors.filter((e) => !/WebSocket|ERR_CONNECTION_REFUSED/.test(e)), [], visitor.errors.join('\n'));
  });
});
