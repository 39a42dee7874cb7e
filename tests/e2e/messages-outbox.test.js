// Messages to patients from the scheduler board: a real SMTP server
// (tests/smtp_sink.py, aiosmtpd) receives the join link; "Send link again"
// mails a fresh one, the old one stops working, and the new one opens the
// patient's page.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, launchChromium, artifactPath, watchPage, eventually, assertAccessible, assertFits,
  ROOT, waitingVisit } from './harness.js';

let server;
let browser;
let smtp;

async function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the SMTP server; resolves once it says it is ready. */
async function startSmtp() {
  const port = await freePort();
  const folder = mkdtempSync(path.join(os.tmpdir(), 'bedside-mail-'));
  const child = spawn('python3', [path.join(ROOT, 'tests', 'smtp_sink.py'), String(port), folder], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => { if (String(d).includes('ready')) resolve(); });
    child.on('exit', (code) => reject(new Error(`the SMTP server exited (${code}); is aiosmtpd installed (tests/requirements.txt)?\n${stderr}`)));
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    mail: (to) => readdirSync(folder).filter((f) => f.endsWith('.json')).sort()
      .map((f) => JSON.parse(readFileSync(path.join(folder, f), 'utf8')))
      .filter((m) => m.rcpt_tos.includes(to)),
    stop() {
      child.kill('SIGKILL');
      rmSync(folder, { recursive: true, force: true });
    },
  };
}

const linkIn = (body) => body.match(/https?:\/\/\S+/)[0];

before(async () => {
  smtp = await startSmtp();
  server = await startServer({
    BEDSIDE_SMTP_URL: smtp.url,
    BEDSIDE_SMTP_FROM: 'Bedside Demo Clinic <visits@clinic.example>',
    BEDSIDE_SMTP_TLS: 'none',
    BEDSIDE_MESSAGE_POLL_SECONDS: '1',
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  smtp?.stop();
});

test('the scheduler sends a join link again from the board and the mailed link opens the patient page', async () => {
  const address = 'katherine.johnson@example.org';
  const { visit } = await waitingVisit(server, 'Messages', {
    newPatient: { given_name: 'Katherine', family_name: 'Johnson', birth_date: '1958-08-26', sex: 'female', email: address },
    reason: 'Follow-up',
    checkIn: false,
  });
  await eventually(() => smtp.mail(address).length === 1, { message: 'the booking link mailed' });

  const context = await browser.newContext({ viewport: { width: 375, height: 800 } });
  const board = await context.newPage();
  const problems = watchPage(board, 'scheduler');
  await board.goto(`${server.base}/`);
  await board.getByTestId('username').fill('scheduler');
  await board.getByTestId('password').fill(server.accounts.scheduler.password);
  await board.getByTestId('sign-in').click();
  await board.waitForURL('**/scheduler');

  // The visit's messages: the booking link, sent by e-mail.
  await board.getByTestId(`messages-${visit.id}`).click();
  const dialog = board.getByTestId('messages-dialog');
  const items = (state) => dialog.locator(`li[data-kind="link"][data-channel="email"][data-state="${state}"]`);
  await eventually(async () => (await items('sent').count()) === 1, { message: 'the link shown as sent' });
  await assertAccessible(board, 'scheduler-messages-dialog');

  // Keyboard: the dialog's "Send link again" is reachable and works.
  await dialog.getByTestId('send-link-again').focus();
  await board.keyboard.press('Enter');
  await eventually(async () => (await items('sent').count()) === 2, { message: 'the second link shown as sent' });
  await assertFits(board);
  await board.screenshot({ path: artifactPath('scheduler-messages.png'), fullPage: true });

  const mail = await eventually(() => { const m = smtp.mail(address); return m.length === 2 ? m : null; }, { message: 'the second link mailed' });
  assert.ok(!mail[1].body.includes('Follow-up'), 'no reason for the visit in the e-mail');
  const oldLink = linkIn(mail[0].body);
  const newLink = linkIn(mail[1].body);
  assert.notEqual(oldLink, newLink);
  const tokenOf = (link) => new URL(link).searchParams.get('t');
  const status = async (t) => (await fetch(`${server.base}/api/v1/visits/${visit.id}`, { headers: { authorization: `Bearer ${t}` } })).status;
  assert.equal(await status(tokenOf(oldLink)), 401, 'the old link no longer works');

  // The mailed link opens the patient's page, on a phone.
  const patientContext = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const patientPage = await patientContext.newPage();
  const patientProblems = watchPage(patientPage, 'patient');
  await patientPage.goto(newLink);
  await patientPage.getByTestId('device-continue').waitFor();
  assert.equal(await status(tokenOf(newLink)), 200);
  assert.deepEqual([...problems, ...patientProblems], []);
  await patientContext.close();
  await context.close();
});
