// The front desk: the day and week calendar of booked visits (every
// status), booking from a free slot, moving and cancelling, the join link
// shown again; patients found, registered and edited, with their visits;
// and the patients the booking page registered, to review. Days and times
// are the clinic's (its working hours' time zone), whatever zone this
// device is in; the calendar follows bookings, cancellations, check-ins
// and closed visits made elsewhere, live over the staff socket.

import { requireStaff, staffApi as api } from './lib/session.js';
import { h, $ } from './lib/dom.js';
import { mountHeader, liveSocket, STATUS_LABEL } from './lib/staff.js';
import { whenIn, timeIn, dateIn, midnightIn } from './lib/zoned.js';

const session = await requireStaff(['scheduler', 'admin']);
mountHeader(session.user);

const state = { slot: null, rebooking: null, patients: new Map(), zones: new Map() };

function toast(text) {
  $('#toast').textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { $('#toast').textContent = ''; }, 6000);
}

/** The clinic's time zone for the view: the chosen clinician's hours', else the first schedule's. */
function zone() {
  return state.zones.get($('#calendar-clinician').value) ?? state.zones.values().next().value ?? 'UTC';
}

/** The clinic's midnight of the chosen day, and the span the view covers. */
function span() {
  const day = $('#day-date').value;
  const days = $('#calendar-view').value === 'week' ? 7 : 1;
  return { from: midnightIn(day, zone()).toISOString(), to: midnightIn(day, zone(), days).toISOString() };
}

function query(params) {
  return new URLSearchParams(Object.entries(params).filter(([, v]) => v)).toString();
}

// ---- calendar ----

async function loadCalendar() {
  await refreshCalendar();
  loadSlots();
}

async function refreshCalendar() {
  const { from, to } = span();
  $('#calendar-zone').textContent = `Days and times are the clinic's: ${zone().replaceAll('_', ' ')}.`;
  const list = $('#calendar-list');
  try {
    const entries = await api(`/calendar?${query({ from, to, clinician_id: $('#calendar-clinician').value, queue_id: $('#calendar-queue').value })}`);
    list.replaceChildren(...(entries.length ? entries.map(card) : [h('li', { class: 'empty' }, 'No visits booked in this span.')]));
  } catch (e) {
    toast(e.message);
  }
}

/** A change made elsewhere: the list again, and the free slots unless one is being chosen. */
function changedElsewhere() {
  clearTimeout(changedElsewhere.timer);
  changedElsewhere.timer = setTimeout(() => {
    refreshCalendar();
    if (!state.slot && !state.rebooking) loadSlots();
  }, 250);
}

function card(entry) {
  const id = entry.visit_id;
  const open = entry.status === 'scheduled' || entry.status === 'waiting';
  return h('li', { 'data-testid': `visit-card-${id}` },
    h('div', { class: 'fd-when', 'data-testid': `visit-time-${id}` }, `${whenIn(entry.start, entry.time_zone)} – ${timeIn(entry.end, entry.time_zone)}`),
    h('div', {}, entry.patient_name, ' · ', entry.reason),
    h('div', { class: 'hint' }, entry.clinician_name ?? 'Any clinician', ' · ', entry.queue_name),
    h('div', { class: `fd-status ${entry.status}`, 'data-testid': `visit-status-${id}` }, STATUS_LABEL?.[entry.status] ?? entry.status),
    h('div', { class: 'actions start' },
      entry.status !== 'cancelled' && entry.status !== 'no_show'
        ? h('button', { type: 'button', class: 'small', 'data-testid': `show-link-${id}`, onclick: () => showLink(entry) }, 'Join link')
        : null,
      entry.status === 'scheduled' && entry.clinician_id
        ? h('button', { type: 'button', class: 'small secondary', 'data-testid': `rebook-${id}`, onclick: () => startRebook(entry) }, 'Move')
        : null,
      open ? h('button', { type: 'button', class: 'small secondary', 'data-testid': `cancel-${id}`, onclick: () => cancel(entry) }, 'Cancel') : null));
}

async function showLink(entry) {
  try {
    const visit = await api(`/visits/${encodeURIComponent(entry.visit_id)}/link`);
    $('#fd-join-link').value = visit.join_url;
    $('#fd-link-box').hidden = false;
    $('#fd-copy-status').textContent = `Join link of ${entry.patient_name}. Send it to the patient only.`;
    $('#fd-join-link').focus();
    $('#fd-join-link').select();
  } catch (e) {
    toast(e.message);
  }
}

async function cancel(entry) {
  const at = whenIn(entry.start, entry.time_zone);
  if (!confirm(`Cancel the visit of ${entry.patient_name} at ${at}?`)) return;
  try {
    await api(`/visits/${encodeURIComponent(entry.visit_id)}/cancel`, { method: 'POST' });
    toast(`Cancelled: ${entry.patient_name}, ${at}.`);
    loadCalendar();
  } catch (e) {
    toast(e.message);
  }
}

function startRebook(entry) {
  state.rebooking = entry;
  if (entry.clinician_id) $('#calendar-clinician').value = entry.clinician_id;
  $('#book-chosen').textContent = `Moving ${entry.patient_name} (${whenIn(entry.start, entry.time_zone)}): choose a free slot.`;
  loadSlots().then(() => $('#slot-list button')?.focus());
}

// ---- free slots and booking ----

async function loadSlots() {
  const clinician = $('#calendar-clinician').value;
  const box = $('#slot-list');
  state.slot = null;
  if (!clinician) {
    box.replaceChildren(h('p', { class: 'empty' }, 'Choose a clinician to see free slots.'));
    return;
  }
  const { from, to } = span();
  try {
    const slots = (await api(`/slots?${query({ clinician_id: clinician, from, to })}`)).filter((s) => s.status === 'free');
    box.replaceChildren(...(slots.length ? slots.map(slotButton) : [h('p', { class: 'empty' }, 'No free slots in this span.')]));
  } catch (e) {
    box.replaceChildren(h('p', { class: 'empty' }, e.status === 404 ? 'This clinician has no working hours yet.' : e.message));
  }
}

function slotButton(slot) {
  const label = $('#calendar-view').value === 'week' ? whenIn(slot.start, slot.time_zone) : timeIn(slot.start, slot.time_zone);
  return h('button', {
    type: 'button', class: 'small secondary', 'aria-pressed': 'false', 'data-testid': 'free-slot', 'data-start': slot.start,
    onclick: (event) => chooseSlot(slot, event.currentTarget),
  }, label);
}

async function chooseSlot(slot, button) {
  for (const b of $('#slot-list').querySelectorAll('button')) b.setAttribute('aria-pressed', 'false');
  button.setAttribute('aria-pressed', 'true');
  state.slot = slot;
  if (state.rebooking) {
    const entry = state.rebooking;
    state.rebooking = null;
    try {
      await api(`/visits/${encodeURIComponent(entry.visit_id)}/rebook`, { method: 'POST', body: { clinician_id: slot.clinician_id, start: slot.start } });
      toast(`Moved ${entry.patient_name} to ${whenIn(slot.start, slot.time_zone)}.`);
      $('#book-chosen').textContent = 'No slot chosen.';
      loadCalendar();
    } catch (e) {
      toast(e.message);
    }
    return;
  }
  $('#book-chosen').textContent = `Chosen: ${whenIn(slot.start, slot.time_zone)}.`;
}

$('#book-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#book-error');
  error.textContent = '';
  if (!state.slot) { error.textContent = 'Choose a free slot first.'; return; }
  const patient = $('#book-patient').value;
  if (!patient) { error.textContent = 'Find and choose the patient first (Patients, on the right).'; return; }
  const reason = $('#book-reason').value.trim();
  if (!reason) { error.textContent = 'Give the reason for the visit.'; $('#book-reason').focus(); return; }
  try {
    const visit = await api('/appointments', { method: 'POST', body: { patient_id: patient, clinician_id: state.slot.clinician_id, start: state.slot.start, reason } });
    $('#fd-join-link').value = visit.join_url;
    $('#fd-link-box').hidden = false;
    $('#fd-copy-status').textContent = `Booked for ${whenIn(state.slot.start, state.slot.time_zone)}. Send the link to the patient only.`;
    $('#book-reason').value = '';
    $('#book-chosen').textContent = 'No slot chosen.';
    loadCalendar();
  } catch (e) {
    error.textContent = e.message;
    loadSlots();
  }
});

$('#fd-copy').addEventListener('click', async () => {
  $('#fd-join-link').select();
  try {
    await navigator.clipboard.writeText($('#fd-join-link').value);
    $('#fd-copy-status').textContent = 'Copied. Send it to the patient only.';
  } catch {
    $('#fd-copy-status').textContent = 'Selected: press Ctrl+C (or ⌘C) to copy.';
  }
});

// ---- patients ----

function patientBody() {
  const v = (id) => $(id).value.trim();
  const body = { given_name: v('#reg-given'), family_name: v('#reg-family'), birth_date: v('#reg-birth'), sex: v('#reg-sex') };
  if (v('#reg-email')) body.email = v('#reg-email');
  if (v('#reg-phone')) body.phone = v('#reg-phone');
  if (v('#reg-line') || v('#reg-city') || v('#reg-state') || v('#reg-postal')) {
    body.address = { line: v('#reg-line'), city: v('#reg-city'), state: v('#reg-state'), postal_code: v('#reg-postal') };
  }
  if (v('#reg-payer-id') || v('#reg-payer-name') || v('#reg-member')) {
    body.insurance = { payer_id: v('#reg-payer-id'), payer_name: v('#reg-payer-name'), member_id: v('#reg-member') };
    if (v('#reg-group')) body.insurance.group_number = v('#reg-group');
  }
  return body;
}

function fillForm(p) {
  const set = (id, value) => { $(id).value = value ?? ''; };
  set('#register-id', p?.id);
  set('#reg-given', p?.given_name); set('#reg-family', p?.family_name); set('#reg-birth', p?.birth_date);
  $('#reg-sex').value = p?.sex ?? 'female';
  set('#reg-email', p?.email); set('#reg-phone', p?.phone);
  set('#reg-line', p?.address?.line); set('#reg-city', p?.address?.city); set('#reg-state', p?.address?.state); set('#reg-postal', p?.address?.postal_code);
  set('#reg-payer-id', p?.insurance?.payer_id); set('#reg-payer-name', p?.insurance?.payer_name); set('#reg-member', p?.insurance?.member_id); set('#reg-group', p?.insurance?.group_number);
  $('#register-title').textContent = p ? `Edit ${p.given_name} ${p.family_name} (${p.mrn})` : 'Register a patient';
  $('#register-submit').textContent = p ? 'Save changes' : 'Register';
  $('#register-error').textContent = '';
}

function offer(patients) {
  for (const p of patients) state.patients.set(p.id, p);
  const select = $('#book-patient');
  const chosen = select.value;
  select.replaceChildren(h('option', { value: '' }, '— choose —'),
    ...[...state.patients.values()].map((p) => h('option', { value: p.id }, `${p.given_name} ${p.family_name} · ${p.birth_date} · ${p.mrn}`)));
  select.value = chosen;
}

function patientItem(p) {
  return h('li', { 'data-testid': `patient-${p.id}` },
    h('div', { class: 'fd-when' }, `${p.given_name} ${p.family_name}`),
    h('div', { class: 'hint' }, `Born ${p.birth_date} · ${p.mrn}`),
    h('div', { class: 'actions start' },
      h('button', { type: 'button', class: 'small', 'data-testid': `choose-${p.id}`, onclick: () => { offer([p]); $('#book-patient').value = p.id; $('#book-reason').focus(); } }, 'Book'),
      h('button', { type: 'button', class: 'small secondary', 'data-testid': `edit-${p.id}`, onclick: () => { fillForm(p); $('#reg-given').focus(); } }, 'Edit'),
      h('button', { type: 'button', class: 'small secondary', 'data-testid': `visits-${p.id}`, onclick: () => showVisits(p) }, 'Visits')));
}

$('#patient-search-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const q = $('#patient-query').value.trim();
  if (!q) return;
  try {
    const found = await api(`/patients?${query({ q })}`);
    offer(found);
    $('#patient-results').replaceChildren(...(found.length ? found.map(patientItem) : [h('li', { class: 'empty' }, 'No patient matches. Register them below.')]));
  } catch (e) {
    toast(e.message);
  }
});

async function showVisits(p) {
  try {
    const visits = await api(`/patients/${encodeURIComponent(p.id)}/visits`);
    $('#patient-visits-title').textContent = `Visits of ${p.given_name} ${p.family_name}`;
    $('#patient-visits').replaceChildren(...(visits.length ? visits.map((v) => h('li', {},
      h('div', { class: 'fd-when' }, whenIn(v.start, v.time_zone)), h('div', {}, v.reason),
      h('div', { class: `fd-status ${v.status}` }, STATUS_LABEL?.[v.status] ?? v.status))) : [h('li', { class: 'empty' }, 'No visits yet.')]));
    $('#patient-visits-box').hidden = false;
  } catch (e) {
    toast(e.message);
  }
}

$('#register-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = $('#register-id').value;
  const error = $('#register-error');
  error.textContent = '';
  try {
    const saved = id
      ? await api(`/patients/${encodeURIComponent(id)}`, { method: 'PUT', body: patientBody() })
      : await api('/patients', { method: 'POST', body: patientBody() });
    offer([saved]);
    $('#book-patient').value = saved.id;
    $('#patient-results').replaceChildren(patientItem(saved));
    toast(`${id ? 'Saved' : 'Registered'}: ${saved.given_name} ${saved.family_name} (${saved.mrn}).`);
    fillForm(null);
  } catch (e) {
    error.textContent = e.field ? `${e.field}: ${e.message}` : e.message;
  }
});
$('#register-clear').addEventListener('click', () => fillForm(null));

// ---- review of online bookings ----

async function loadReviews() {
  try {
    const reviews = await api('/patient-reviews');
    $('#review-list').replaceChildren(...(reviews.length ? reviews.map((r) => h('li', { 'data-testid': `review-${r.patient.id}` },
      h('div', { class: 'fd-when' }, `${r.patient.given_name} ${r.patient.family_name}`),
      h('div', { class: 'hint' }, `Born ${r.patient.birth_date} · ${r.reason}`),
      h('div', { class: 'actions start' },
        h('button', { type: 'button', class: 'small secondary', onclick: () => { fillForm(r.patient); $('#reg-given').focus(); } }, 'Edit'),
        h('button', { type: 'button', class: 'small', 'data-testid': `review-resolve-${r.patient.id}`, onclick: () => resolve(r.patient) }, 'Checked')))) : [h('li', { class: 'empty' }, 'Nothing to review.')]));
  } catch (e) {
    toast(e.message);
  }
}

async function resolve(patient) {
  try {
    await api(`/patient-reviews/${encodeURIComponent(patient.id)}/resolve`, { method: 'POST' });
    loadReviews();
  } catch (e) {
    toast(e.message);
  }
}

// ---- start ----

async function start() {
  const [clinicians, queues, schedules] = await Promise.all([api('/users?role=clinician'), api('/queues'), api('/schedules')]);
  for (const s of schedules) state.zones.set(s.clinician_id, s.time_zone);
  $('#day-date').value = dateIn(new Date(), zone());
  $('#calendar-clinician').replaceChildren(h('option', { value: '' }, 'All clinicians'), ...clinicians.map((c) => h('option', { value: c.id }, c.display_name)));
  $('#calendar-queue').replaceChildren(h('option', { value: '' }, 'All queues'), ...queues.map((q) => h('option', { value: q.id }, q.name)));
  offer([]);
  for (const id of ['#day-date', '#calendar-view', '#calendar-clinician', '#calendar-queue']) {
    $(id).addEventListener('change', loadCalendar);
  }
  $('#calendar-form').addEventListener('submit', (e) => { e.preventDefault(); loadCalendar(); });
  await Promise.all([loadCalendar(), loadReviews()]);
  const signal = liveSocket(session.token, queues.map((q) => q.id));
  signal.on('queue', changedElsewhere);
  await signal.connect();
  document.body.dataset.ready = 'true';
}
start().catch((e) => toast(e.message));
