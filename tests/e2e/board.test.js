// The scheduler board steers the queues: reorder, reprioritise, assign,
// move, cancel and no-show, and a waiting patient sees its place change live.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchChromium, apiFor, signInApi, artifactPath, watchPage, eventually, assertAccessible,
} from './harness.js';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test('the scheduler reorders, reprioritises, assigns, moves, cancels and marks a no-show, live', async () => {
  const api = apiFor(server.base);
  const { token } = await signInApi(server, 'scheduler');
  const main = await api('/queues', { method: 'POST', token, body: { name: 'Main' } });
  const overflow = await api('/queues', { method: 'POST', token, body: { name: 'Overflow' } });
  const house = (await api('/users?role=clinician', { token })).find((u) => u.username === 'dr.house');
  const visits = {};
  for (const name of ['Lovelace', 'Turing', 'Hopper']) {
    const [patient] = await api(`/patients?name=${name}`, { token });
    const visit = await api('/visits', { method: 'POST', token, body: { patient_id: patient.id, queue_id: main.id, reason: 'Review' } });
    await api(`/visits/${visit.id}/check-in`, { method: 'POST', token: visit.patient_token, body: { consent_to_telehealth: true } });
    visits[name] = visit;
  }

  // Alan Turing waits second, on his phone.
  const patientContext = await browser.newContext({ viewport: { width: 375, height: 740 } });
  const patient = await patientContext.newPage();
  const patientProblems = watchPage(patient, 'patient');
  await patient.goto(visits.Turing.join_url);
  await patient.getByTestId('device-continue').click();
  const place = () => patient.getByTestId('waiting-position').textContent();
  await eventually(async () => (await place()) === '2', { message: 'Turing second' });

  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const board = await context.newPage();
  const problems = watchPage(board, 'scheduler');
  await board.goto(`${server.base}/`);
  await board.getByTestId('username').fill('scheduler');
  await board.getByTestId('password').fill(server.accounts.scheduler.password);
  await board.getByTestId('sign-in').click();
  await board.waitForURL('**/scheduler');
  const column = (queue) => board.getByTestId(`queue-${queue.id}`);
  const order = async (queue) => column(queue).locator('li.entry .name').allTextContents();
  await eventually(async () => (await order(main)).join() === 'Ada Lovelace,Alan Turing,Grace Hopper', { message: 'initial order' });

  // Reorder: Turing up to first.
  await board.getByTestId(`up-${visits.Turing.id}`).click();
  await eventually(async () => (await order(main))[0] === 'Alan Turing', { message: 'Turing first on the board' });
  await eventually(async () => (await place()) === '1', { message: 'Turing told he is first' });

  // Reprioritise: Hopper is urgent and goes ahead of everyone.
  await board.getByTestId(`priority-${visits.Hopper.id}`).selectOption('urgent');
  await eventually(async () => (await order(main))[0] === 'Grace Hopper', { message: 'Hopper first' });
  await eventually(async () => (await place()) === '2', { message: 'Turing second again' });

  // Assign Lovelace to Dr. House: his load shows it.
  await board.getByTestId(`assign-${visits.Lovelace.id}`).selectOption(house.id);
  await eventually(async () => (await board.getByTestId(`load-${house.id}`).textContent()).includes('1 assigned'), { message: 'House has one assigned' });

  // Move Lovelace to the overflow queue.
  await board.getByTestId(`move-${visits.Lovelace.id}`).selectOption(overflow.id);
  await eventually(async () => (await order(overflow)).join() === 'Ada Lovelace', { message: 'Lovelace in overflow' });
  assert.ok(!(await order(main)).includes('Ada Lovelace'));
  await board.screenshot({ path: artifactPath('scheduler-board-steering.png'), fullPage: true });
  await assertAccessible(board, 'scheduler-board-steering');

  // Cancel Hopper (Turing moves up) and mark Lovelace a no-show.
  await board.getByTestId(`cancel-${visits.Hopper.id}`).click();
  await eventually(async () => (await order(main)).join() === 'Alan Turing', { message: 'Hopper cancelled' });
  await eventually(async () => (await place()) === '1', { message: 'Turing first after the cancel' });
  await board.getByTestId(`no-show-${visits.Lovelace.id}`).click();
  await eventually(async () => (await order(overflow)).length === 0, { message: 'Lovelace no-show' });
  assert.equal((await api(`/visits/${visits.Lovelace.id}`, { token })).status, 'no_show');
  assert.equal((await api(`/visits/${visits.Hopper.id}`, { token })).status, 'cancelled');

  assert.deepEqual([...problems, ...patientProblems], []);
  await Promise.all([context.close(), patientContext.close()]);
});
