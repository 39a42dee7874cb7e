// What the pages do when a part of the system is down or restarting.
// LiveKit configured but not answering: the clinician reads, in plain
// words, that group video is unavailable, instead of a call that silently
// never starts. The socket (the page's own, through Playwright's WebSocket
// routing, which lets the test speak for the server): a `reconnect` frame
// from a draining node brings a new socket that resumes the session after
// the delay; a `hello` answered `unavailable` and 1013 is retried, not
// taken for a refused token.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startServer, launchChromium, watchPage, eventually, admitFromConsole, waitingVisit, assertFits, assertAccessible,
  artifactPath,
} from './harness.js';

let server;
let browser;
const problems = [];

/** A port nothing listens on: connections to it are refused. */
async function closedPort() {
  const probe = net.createServer();
  await new Promise((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

before(async () => {
  server = await startServer({
    LIVEKIT_URL: `http://127.0.0.1:${await closedPort()}`,
    LIVEKIT_API_KEY: 'bedside-e2e-key',
    LIVEKIT_API_SECRET: 'bedside-e2e-secret-of-at-least-32-bytes',
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the console says group video is unavailable when LiveKit cannot be reached', async () => {
  const { visit } = await waitingVisit(server, 'LiveKit down');

  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const console_ = await context.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${server.base}/`);
  await console_.getByTestId('username').fill('dr.grey');
  await console_.getByTestId('password').fill(server.accounts['dr.grey'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();

  const notice = console_.getByTestId('group-video-unavailable');
  await notice.waitFor({ timeout: 20_000 });
  assert.match(await notice.textContent(), /Group video is unavailable right now/);
  await context.close();
});

async function signIn(context, username) {
  const page = await context.newPage();
  problems.push(watchPage(page, username));
  await page.goto(`${server.base}/`);
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(server.accounts[username].password);
  await page.getByTestId('sign-in').click();
  return page;
}

const signal = (page, field) => page.evaluate((f) => window.__bedside.signal?.[f], field);

test('a reconnect frame brings a new socket that resumes the session after the delay', async () => {
  const context = await browser.newContext();
  const sockets = [];
  const hellos = [];
  const subscribes = [];
  await context.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    const socket = sockets.length;
    ws.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.type === 'hello') hellos.push(frame);
      if (frame.type === 'subscribe') subscribes.push({ socket, queue_id: frame.queue_id });
      upstream.send(message);
    });
    sockets.push(ws);
  });
  const board = await signIn(context, 'scheduler');
  await board.waitForURL('**/scheduler');
  await eventually(async () => (await signal(board, 'state')) === 'open', { message: 'the board socket' });
  const participant = await signal(board, 'participantId');

  // As a draining node would say it.
  sockets[0].send(JSON.stringify({ type: 'reconnect', after_ms: 300 }));

  await eventually(() => hellos.length === 2, { message: 'a second hello after the delay' });
  assert.ok(hellos[1].resume, 'the new socket asks to resume');
  await eventually(async () => (await signal(board, 'state')) === 'open', { message: 'the socket back' });
  assert.equal(await signal(board, 'participantId'), participant, 'the session resumed');
  // The resumed session asks for its queues again: their fresh snapshots
  // bring whatever changed while it was away.
  const asked = (socket) => [...new Set(subscribes.filter((s) => s.socket === socket).map((s) => s.queue_id))].sort();
  const before = asked(0);
  assert.ok(before.length > 0, 'the board subscribed to its queues');
  await eventually(() => asked(1).length === before.length, { message: 'the queues asked for again' });
  assert.deepEqual(asked(1), before);
  await context.close();
});

test('a queue the server could not send is shown as loading and asked for again until it comes', async () => {
  const { queue, visit } = await waitingVisit(server, 'Snapshot refused');

  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  let refusing = true;
  let refused = 0;
  let asked = 0;
  await context.routeWebSocket(/\/ws$/, (ws) => {
    const upstream = ws.connectToServer();
    ws.onMessage((message) => {
      const frame = JSON.parse(message);
      if (frame.type === 'subscribe' && frame.queue_id === queue.id) {
        asked += 1;
        if (refusing) {
          // As a node whose database did not answer in time replies.
          refused += 1;
          ws.send(JSON.stringify({ type: 'error', code: 'unavailable', message: 'try again later' }));
          return;
        }
      }
      upstream.send(message);
    });
  });
  // Not dr.grey: the first test left a consult of theirs open.
  const console_ = await signIn(context, 'dr.house');
  await console_.waitForURL('**/clinician');
  // Until the socket is open every queue is loading anyway: look once it was refused.
  await eventually(() => refused >= 1, { message: 'the first subscription refused' });
  const section = console_.locator('section.queue', { has: console_.locator(`#q-${queue.id}`) });
  await eventually(async () => /Loading the queue/.test(await section.textContent()), { message: 'the queue shown as loading, not as empty' });
  assert.doesNotMatch(await section.textContent(), /No one is waiting/);
  await assertFits(console_);
  await assertAccessible(console_, 'console, a queue loading');
  await console_.screenshot({ path: artifactPath('console-queue-loading-375.png') });
  refusing = false;
  await admitFromConsole(console_, server, visit.id);
  assert.ok(asked >= 2, `the queue asked for again (asked ${asked} times)`);
  await context.close();
});

test('a hello answered unavailable is retried rather than taken for a refused token', async () => {
  const context = await browser.newContext();
  let attempts = 0;
  await context.routeWebSocket(/\/ws$/, (ws) => {
    attempts += 1;
    if (attempts === 1) {
      // As a node whose database is away answers.
      ws.onMessage(() => {
        ws.send(JSON.stringify({ type: 'error', code: 'unavailable', message: 'try again later' }));
        ws.close({ code: 1013, reason: 'try again later' });
      });
      return;
    }
    ws.connectToServer();
  });
  const board = await signIn(context, 'scheduler');
  await board.waitForURL('**/scheduler');
  await eventually(async () => (await signal(board, 'state')) === 'open', { message: 'the socket after a retry' });
  assert.ok(attempts >= 2, `attempts: ${attempts}`);
  await context.close();
});

test('a page whose files did not all load says so, and its reload mends it', async () => {
  const context = await browser.newContext({ viewport: { width: 375, height: 740 } });
  let failing = true;
  // As a network change in the middle of the page's loads aborts them.
  await context.route(/\/assets\/lib\/staff\.js$/, (route) => (failing ? route.abort('internetdisconnected') : route.fallback()));
  const page = await signIn(context, 'dr.house');
  await page.waitForURL('**/clinician');
  const notice = page.getByTestId('load-failed');
  await notice.waitFor();
  assert.match(await notice.textContent(), /did not load completely/);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'reload', 'the reload button has the focus');
  await assertFits(page);
  await assertAccessible(page, 'console, half loaded');
  await page.screenshot({ path: artifactPath('console-half-loaded-375.png') });

  failing = false;
  await page.keyboard.press('Enter');
  await eventually(async () => (await signal(page, 'state')) === 'open', { message: 'the reloaded console\'s socket' });
  assert.equal(await notice.count(), 0, 'no notice once everything loaded');
  await context.close();
});
