// The scheduler's view of messages to patients: a visit's messages and
// where each stands (queued, sent, failed and why), "Send link again", the
// patient's choice about texts, and "Running late" for a queue. The dialog
// lives outside the board, so board updates do not wipe it.

import { staffApi as api } from './session.js';
import { h, $, clock } from './dom.js';

const KIND_LABEL = {
  link: 'Join link',
  reminder: 'Reminder',
  running_late: 'Running late',
  cancellation: 'Cancellation',
};
const CHANNEL_LABEL = { email: 'E-mail', sms: 'Text' };
const STATE_LABEL = { queued: 'Queued', sending: 'Sending', sent: 'Sent', failed: 'Failed' };

let dialog = null;
let current = null; // { visitId, patientId, name, timer }

function ensureDialog() {
  if (dialog) return dialog;
  dialog = h('dialog', { class: 'guest-dialog messages-dialog', 'aria-labelledby': 'md-title', 'data-testid': 'messages-dialog' },
    h('h2', { id: 'md-title' }, 'Messages to the patient'),
    h('p', { class: 'hint', id: 'md-for' }),
    h('ul', { class: 'message-list', id: 'md-list', 'data-testid': 'message-list', 'aria-live': 'polite' }),
    h('div', { class: 'checkbox-row' },
      h('input', { type: 'checkbox', id: 'md-no-texts', 'data-testid': 'texts-opted-out', onchange: saveTextChoice }),
      h('label', { for: 'md-no-texts' }, 'No text messages (the patient opted out; e-mail still goes)')),
    h('p', { id: 'md-status', class: 'hint', role: 'status' }),
    h('div', { class: 'copy-row', id: 'md-link-box', hidden: true },
      h('label', { for: 'md-link', class: 'visually-hidden' }, 'The new join link'),
      h('input', { id: 'md-link', readonly: true, 'data-testid': 'messages-join-link' })),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'secondary', onclick: close }, 'Close'),
      h('button', { type: 'button', 'data-testid': 'send-link-again', onclick: sendLinkAgain }, 'Send link again')));
  dialog.addEventListener('close', stopPolling);
  document.body.append(dialog);
  return dialog;
}

function stopPolling() {
  clearInterval(current?.timer);
}

function close() {
  dialog.close();
}

function say(text) {
  $('#md-status').textContent = text;
}

function messageItem(m) {
  const when = m.sent_at ? `sent ${clock(m.sent_at)}` : m.next_attempt_at ? `next try ${clock(m.next_attempt_at)}` : clock(m.created_at);
  const kind = m.kind === 'running_late' && m.late_minutes ? `${KIND_LABEL[m.kind]} (${m.late_minutes} min)` : KIND_LABEL[m.kind] ?? m.kind;
  return h('li', { 'data-testid': `message-${m.id}`, dataset: { kind: m.kind, channel: m.channel, state: m.state } },
    h('span', { class: 'name' }, `${kind} · ${CHANNEL_LABEL[m.channel] ?? m.channel} to ${m.to}`),
    ' ',
    h('span', { class: `badge message-state ${m.state}`, 'data-testid': `message-state-${m.id}` }, STATE_LABEL[m.state] ?? m.state),
    h('span', { class: 'hint' }, ` ${when}`),
    m.failure ? h('span', { class: 'message-failure', 'data-testid': `message-failure-${m.id}` }, ` ${m.failure}`) : null);
}

async function refresh() {
  if (!current) return;
  const messages = await api(`/visits/${encodeURIComponent(current.visitId)}/patient-messages`);
  $('#md-list').replaceChildren(...(messages.length
    ? messages.map(messageItem)
    : [h('li', { class: 'empty' }, 'No messages yet: the patient has no e-mail or phone on file.')]));
}

/** Opens the messages of a visit on the board. */
export async function openMessages(entry) {
  ensureDialog();
  stopPolling();
  current = { visitId: entry.visit_id, name: entry.patient_name, patientId: null, timer: null };
  $('#md-for').textContent = `For the visit of ${entry.patient_name}.`;
  $('#md-link-box').hidden = true;
  say('');
  $('#md-list').replaceChildren();
  dialog.showModal();
  try {
    const visit = await api(`/visits/${encodeURIComponent(entry.visit_id)}`);
    current.patientId = visit.patient_id;
    const texts = await api(`/patients/${encodeURIComponent(visit.patient_id)}/text-messages`);
    $('#md-no-texts').checked = texts.opted_out;
    await refresh();
  } catch (e) {
    say(e.message);
  }
  // States move as the worker sends; keep the list current while it is open.
  current.timer = setInterval(() => refresh().catch(() => {}), 2000);
}

async function sendLinkAgain() {
  if (!current) return;
  try {
    const created = await api(`/visits/${encodeURIComponent(current.visitId)}/patient-messages/link`, { method: 'POST', body: {} });
    $('#md-link').value = created.join_url;
    $('#md-link-box').hidden = false;
    say(`A new link is on its way to ${current.name}; the earlier one no longer works.`);
    await refresh();
  } catch (e) {
    say(e.message);
  }
}

async function saveTextChoice(event) {
  if (!current?.patientId) return;
  const optedOut = event.currentTarget.checked;
  try {
    await api(`/patients/${encodeURIComponent(current.patientId)}/text-messages`, { method: 'PUT', body: { opted_out: optedOut } });
    say(optedOut ? 'No more text messages to this patient.' : 'Text messages to this patient are on.');
  } catch (e) {
    event.currentTarget.checked = !optedOut;
    say(e.message);
  }
}

/** The "Messages" button of a board card. */
export function messagesButton(entry, whose) {
  return h('button', { type: 'button', class: 'small secondary', 'data-testid': `messages-${entry.visit_id}`,
    onclick: () => openMessages(entry) }, 'Messages', whose);
}

/** "Running late" for a queue's column: tells each patient still to be seen. */
export function runningLateControl(queue, done) {
  const input = h('input', { type: 'number', id: `late-${queue.id}`, min: 1, max: 240, value: 15, inputmode: 'numeric',
    'data-testid': `late-minutes-${queue.id}` });
  const form = h('form', { class: 'inline-form running-late' },
    h('label', { for: `late-${queue.id}` }, 'Minutes late'),
    input,
    h('button', { type: 'submit', class: 'small secondary', 'data-testid': `running-late-${queue.id}` }, 'Running late',
      h('span', { class: 'visually-hidden' }, `: tell the patients of ${queue.name}`)));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      const told = await api(`/queues/${encodeURIComponent(queue.id)}/running-late`, { method: 'POST', body: { minutes: Number(input.value) } });
      done(`${told.visit_ids.length} patient(s) told the clinician is running about ${input.value} minutes late.`);
    } catch (e) {
      done(e.message);
    }
  });
  return h('details', { class: 'late-details' }, h('summary', {}, 'Running late…'), form);
}
