// The scheduler board: every queue live; reorder, reprioritise, move,
// assign, cancel and no-show; clinicians' presence and load; new visits
// with a join link to copy.

import { requireStaff, staffApi as api } from './lib/session.js';
import { h, $, $$, duration, secondsSince, clock } from './lib/dom.js';
import { mountHeader, liveSocket, PRESENCE_LABEL, PRIORITY_LABEL, STATUS_LABEL } from './lib/staff.js';
import { eligibilityBlock } from './lib/payer.js';
import { messagesButton, runningLateControl } from './lib/outbox.js';

const session = await requireStaff(['scheduler', 'admin']);
mountHeader(session.user);

const state = {
  queues: new Map(),
  clinicians: new Map(), // id -> user
  presence: new Map(), // user_id -> status
  signal: null,
};
window.__bedside = { get signal() { return state.signal; } };

function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ''; }, 6000);
}

/** Re-renders without losing the keyboard user's place. */
function keepingFocus(render) {
  const testid = document.activeElement?.getAttribute?.('data-testid');
  render();
  if (testid) document.querySelector(`[data-testid="${CSS.escape(testid)}"]`)?.focus();
}

async function change(visitId, body, done) {
  try {
    await api(`/visits/${encodeURIComponent(visitId)}`, { method: 'PATCH', body });
    if (done) toast(done);
  } catch (e) {
    toast(e.message);
  }
}

async function end(entry, action, label) {
  if (!confirm(`${label} the visit of ${entry.patient_name}?`)) return;
  try {
    await api(`/visits/${encodeURIComponent(entry.visit_id)}/${action}`, { method: 'POST' });
    toast(`${entry.patient_name}: ${label.toLowerCase()} done.`);
  } catch (e) {
    toast(e.message);
  }
}

// A fresh join link to resend: the patient's earlier link stops working.
async function newLink(entry) {
  if (!confirm(`Make a new join link for ${entry.patient_name}? Their current link will stop working.`)) return;
  try {
    const visit = await api(`/visits/${encodeURIComponent(entry.visit_id)}/link`, { method: 'POST' });
    $('#join-link').value = visit.join_url;
    $('#join-link-box').hidden = false;
    $('#copy-status').textContent = `New link for ${entry.patient_name}; the earlier one no longer works. Send it to the patient only.`;
    $('#join-link').focus();
    $('#join-link').select();
  } catch (e) {
    toast(e.message);
  }
}

// ---- board ----

function renderBoard() {
  const board = $('#queue-board');
  if (state.queues.size === 0) {
    board.replaceChildren(h('p', { class: 'empty' }, 'No queues yet. Add one above.'));
    return;
  }
  keepingFocus(() => board.replaceChildren(...[...state.queues.values()].map(queueColumn)));
  renderPresence();
}

function queueColumn(queue) {
  const entries = queue.entries ?? [];
  const waiting = entries.filter((e) => e.status === 'waiting');
  return h('section', { class: 'column', 'aria-labelledby': `col-${queue.id}`, 'data-testid': `queue-${queue.id}` },
    h('h2', { id: `col-${queue.id}` }, queue.name,
      h('span', { class: 'count' }, queue.entries === null ? '' : ` ${waiting.length} waiting · ${entries.length - waiting.length} other`)),
    runningLateControl(queue, toast),
    queue.entries === null ? h('p', { class: 'empty' }, 'Loading the queue\u2026')
      : entries.length === 0 ? h('p', { class: 'empty' }, 'Empty.')
      : h('ol', { class: 'entries' }, entries.map((entry) => card(queue, entry, waiting))));
}

function card(queue, entry, waiting) {
  const id = entry.visit_id;
  const name = entry.patient_name;
  const samePriority = waiting.filter((e) => e.priority === entry.priority);
  const rank = samePriority.findIndex((e) => e.visit_id === id) + 1;
  const open = entry.status === 'waiting' || entry.status === 'scheduled';

  const priority = h('select', { id: `priority-${id}`, 'data-testid': `priority-${id}`, disabled: !open },
    ['emergent', 'urgent', 'routine'].map((p) => h('option', { value: p, selected: p === entry.priority }, PRIORITY_LABEL[p])));
  priority.addEventListener('change', () => change(id, { priority: priority.value }, `${name} is now ${priority.value}.`));

  const assign = h('select', { id: `assign-${id}`, 'data-testid': `assign-${id}`, disabled: !open },
    entry.clinician_id ? null : h('option', { value: '', selected: true }, 'Anyone'),
    [...state.clinicians.values()].map((c) => h('option', { value: c.id, selected: c.id === entry.clinician_id }, c.display_name)));
  assign.addEventListener('change', () => {
    if (assign.value) change(id, { clinician_id: assign.value }, `${name} assigned.`);
  });

  const move = h('select', { id: `move-${id}`, 'data-testid': `move-${id}`, disabled: !open },
    [...state.queues.values()].map((q) => h('option', { value: q.id, selected: q.id === queue.id }, q.name)));
  move.addEventListener('change', () => {
    if (move.value !== queue.id) change(id, { queue_id: move.value }, `${name} moved.`);
  });

  const controls = [];
  // Each button's name starts with its visible label; the patient's name
  // follows for screen readers, which hear many such buttons in a row.
  const whose = (text) => h('span', { class: 'visually-hidden' }, text);
  if (entry.status === 'waiting') {
    controls.push(
      h('button', { type: 'button', class: 'small secondary', 'data-testid': `up-${id}`, disabled: rank <= 1,
        onclick: () => change(id, { position: rank - 1 }) }, h('span', { 'aria-hidden': 'true' }, '\u2191 '), 'Up', whose(`: move ${name} up`)),
      h('button', { type: 'button', class: 'small secondary', 'data-testid': `down-${id}`, disabled: rank >= samePriority.length,
        onclick: () => change(id, { position: rank + 1 }) }, h('span', { 'aria-hidden': 'true' }, '\u2193 '), 'Down', whose(`: move ${name} down`)));
  }
  if (open || entry.status === 'in_consult') {
    controls.push(h('button', { type: 'button', class: 'small secondary', 'data-testid': `guest-${id}`,
      onclick: () => inviteGuest(entry) }, 'Invite guest', whose(` to the visit of ${name}`)));
  }
  controls.push(messagesButton(entry, whose(` to ${name}`)));
  if (open) {
    controls.push(
      h('button', { type: 'button', class: 'small secondary', 'data-testid': `new-link-${id}`,
        onclick: () => newLink(entry) }, 'New link', whose(` for ${name}`)),
      h('button', { type: 'button', class: 'small secondary', 'data-testid': `no-show-${id}`,
        onclick: () => end(entry, 'no-show', 'Mark as no-show') }, 'No-show', whose(`: ${name}`)),
      h('button', { type: 'button', class: 'small danger', 'data-testid': `cancel-${id}`,
        onclick: () => end(entry, 'cancel', 'Cancel') }, 'Cancel', whose(` the visit of ${name}`)));
  }

  const meta = [];
  if (entry.status === 'waiting') {
    meta.push(`#${entry.position}`, h('span', { class: 'waited', dataset: { since: entry.waiting_since ?? '' } },
      `waiting ${duration(secondsSince(entry.waiting_since))}`), `est. ${duration(entry.estimated_wait_seconds)}`);
  } else if (entry.status === 'in_consult') {
    meta.push(`with ${state.clinicians.get(entry.clinician_id)?.display_name ?? 'a clinician'}`);
  } else if (entry.waiting_since) {
    meta.push(clock(entry.waiting_since));
  }

  return h('li', { class: `entry priority-${entry.priority} status-${entry.status}`, 'data-testid': `entry-${id}` },
    h('div', { class: 'entry-main' },
      h('span', { class: 'name' }, name),
      h('span', { class: `badge ${entry.priority}` }, PRIORITY_LABEL[entry.priority]),
      h('span', { class: `badge status ${entry.status}`, 'data-testid': `status-${id}` }, STATUS_LABEL[entry.status] ?? entry.status),
      entry.emergency ? h('span', { class: 'badge critical', 'data-testid': `emergency-${id}` },
        `Emergency: ${entry.emergency.findings.join('; ')}`) : null),
    h('p', { class: 'entry-meta' }, meta.flatMap((m, i) => (i ? [' · ', m] : [m]))),
    h('div', { class: 'entry-fields' },
      h('div', {}, h('label', { for: `priority-${id}` }, 'Priority'), priority),
      h('div', {}, h('label', { for: `assign-${id}` }, 'Clinician'), assign),
      h('div', {}, h('label', { for: `move-${id}` }, 'Queue'), move)),
    open ? eligibilityBlock(api, id, name, { toast, rerender: renderBoard }) : null,
    controls.length ? h('div', { class: 'entry-actions' }, controls) : null);
}

// ---- guests: a dialog, so board updates do not wipe it ----

const guestDialog = $('#guest-dialog');
let guestVisit = null;

function inviteGuest(entry) {
  guestVisit = entry.visit_id;
  const form = $('#guest-dialog-form');
  form.reset();
  $('#guest-dialog-for').textContent = `For the visit of ${entry.patient_name}.`;
  $('#gd-error').textContent = '';
  $('#gd-link-box').hidden = true;
  guestDialog.showModal();
  $('#gd-name').focus();
}

$('#guest-dialog-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  $('#gd-error').textContent = '';
  form.display_name.removeAttribute('aria-invalid');
  try {
    const invited = await api(`/visits/${encodeURIComponent(guestVisit)}/guests`, {
      method: 'POST',
      body: { display_name: form.display_name.value.trim(), kind: form.kind.value },
    });
    $('#gd-link').value = invited.join_url;
    $('#gd-link-box').hidden = false;
    $('#gd-link').select();
  } catch (e) {
    $('#gd-error').textContent = e.message;
    if (e.field === 'display_name') {
      form.display_name.setAttribute('aria-invalid', 'true');
      form.display_name.focus();
    }
  }
});
$('#gd-close').addEventListener('click', () => {
  $('#gd-link').value = '';
  guestDialog.close();
});
$('#gd-copy').addEventListener('click', async () => {
  const input = $('#gd-link');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
});

setInterval(() => {
  for (const el of $$('.waited')) if (el.dataset.since) el.textContent = `waiting ${duration(secondsSince(el.dataset.since))}`;
}, 15_000);

// ---- presence and load ----

function renderPresence() {
  const load = new Map();
  for (const queue of state.queues.values()) {
    for (const e of queue.entries ?? []) {
      if (!e.clinician_id) continue;
      const l = load.get(e.clinician_id) ?? { consult: 0, assigned: 0 };
      if (e.status === 'in_consult') l.consult += 1;
      else if (e.status === 'waiting' || e.status === 'scheduled') l.assigned += 1;
      load.set(e.clinician_id, l);
    }
  }
  const list = $('#presence-list');
  if (state.clinicians.size === 0) {
    list.replaceChildren(h('li', { class: 'empty' }, 'No clinicians.'));
    return;
  }
  list.replaceChildren(...[...state.clinicians.values()].map((c) => {
    const status = state.presence.get(c.id) ?? 'offline';
    const l = load.get(c.id) ?? { consult: 0, assigned: 0 };
    return h('li', { 'data-testid': `presence-${c.id}`, dataset: { status } },
      h('span', { class: `presence-dot ${status}`, 'aria-hidden': 'true' }),
      h('span', { class: 'name' }, c.display_name),
      h('span', { class: `badge presence ${status}`, 'data-testid': `presence-status-${c.id}` }, PRESENCE_LABEL[status] ?? status),
      h('span', { class: 'load', 'data-testid': `load-${c.id}` },
        `${l.consult} in consult · ${l.assigned} assigned`));
  }));
}

// ---- new queue, new visit ----

$('#queue-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const name = form.name.value.trim();
  if (!name) return;
  try {
    const queue = await api('/queues', { method: 'POST', body: { name } });
    state.queues.set(queue.id, { ...queue, entries: [] });
    state.signal.watch(queue.id);
    form.reset();
    fillVisitSelects();
    renderBoard();
    toast(`Queue ${queue.name} added.`);
  } catch (e) {
    toast(e.message);
  }
});

function fillVisitSelects() {
  const queueSelect = $('#visit-queue');
  const chosen = queueSelect.value;
  queueSelect.replaceChildren(...[...state.queues.values()].map((q) => h('option', { value: q.id, selected: q.id === chosen }, q.name)));
  $('#visit-clinician').replaceChildren(h('option', { value: '' }, 'Anyone available'),
    ...[...state.clinicians.values()].map((c) => h('option', { value: c.id }, c.display_name)));
}

let searchTimer;
$('#patient-search').addEventListener('input', (event) => {
  clearTimeout(searchTimer);
  const name = event.target.value.trim();
  searchTimer = setTimeout(async () => {
    if (name.length < 2) return;
    try {
      const patients = await api(`/patients?name=${encodeURIComponent(name)}`);
      const select = $('#patient-id');
      select.replaceChildren(...(patients.length
        ? patients.map((p) => h('option', { value: p.id }, `${p.family_name}, ${p.given_name} (born ${p.birth_date}${p.mrn ? `, MRN ${p.mrn}` : ''})`))
        : [h('option', { value: '' }, 'No matching patients')]));
      $('#patient-hint').textContent = `${patients.length} matching patient${patients.length === 1 ? '' : 's'}.`;
    } catch (e) {
      toast(e.message);
    }
  }, 250);
});

$('#visit-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#visit-error');
  error.textContent = '';
  if (!form.patient_id.value) { error.textContent = 'Choose a patient.'; form.search.focus(); return; }
  if (!form.queue_id.value) { error.textContent = 'Add a queue first.'; return; }
  if (!form.reason.value.trim()) { error.textContent = 'Enter the reason for the visit.'; form.reason.focus(); return; }
  const body = {
    patient_id: form.patient_id.value,
    queue_id: form.queue_id.value,
    reason: form.reason.value.trim(),
    priority: form.priority.value,
  };
  if (form.clinician_id.value) body.clinician_id = form.clinician_id.value;
  if (form.scheduled_start.value) body.scheduled_start = new Date(form.scheduled_start.value).toISOString().replace(/\.\d{3}Z$/, 'Z');
  try {
    const visit = await api('/visits', { method: 'POST', body });
    $('#join-link').value = visit.join_url;
    $('#join-link-box').hidden = false;
    $('#copy-status').textContent = 'Send it to the patient only; it opens their visit.';
    form.reason.value = '';
    $('#join-link').focus();
    $('#join-link').select();
  } catch (e) {
    error.textContent = e.message;
  }
});

$('#copy-link').addEventListener('click', async () => {
  const input = $('#join-link');
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand('copy');
  }
  $('#copy-status').textContent = 'Copied.';
});

// ---- start ----

async function start() {
  const [queues, clinicians, presence] = await Promise.all([
    api('/queues'), api('/users?role=clinician'), api('/presence?role=clinician').catch(() => []),
  ]);
  for (const c of clinicians) state.clinicians.set(c.id, c);
  for (const p of presence) state.presence.set(p.user_id, p.status);
  // `null` until the socket's snapshot: the board never shows empty before it knows.
  for (const q of queues) state.queues.set(q.id, { ...q, entries: null });
  fillVisitSelects();
  renderBoard();
  const signal = liveSocket(session.token, queues.map((q) => q.id));
  state.signal = signal;
  signal.on('queue', (f) => {
    const queue = state.queues.get(f.queue_id);
    if (!queue) return;
    queue.entries = f.entries;
    renderBoard();
  });
  signal.on('presence', (f) => {
    state.presence.set(f.user_id, f.status);
    renderPresence();
  });
  await signal.connect();
}

start().catch((e) => toast(e.message));
