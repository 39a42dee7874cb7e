// The clinician console: presence, the queues live, admit, the chart beside
// the call, the note and close.

import { requireStaff, staffApi as api } from './lib/session.js';
import { h, $, $$, clock, duration, secondsSince, date, focusStep } from './lib/dom.js';
import { openDevices, stopStream } from './lib/devices.js';
import { callFor } from './lib/livekit.js';
import { mountCall } from './lib/callview.js';
import { mountAlerts } from './lib/alerts.js';
import { keepDraft } from './lib/draft.js';
import { attachCodeSearch } from './lib/codesearch.js';
import { entrySection } from './lib/chartentries.js';
import { clinicSettings, temperature } from './lib/clinic.js';
import { mountHeader, liveSocket, NETWORK_LABEL, PRESENCE_LABEL, PRIORITY_LABEL, STATUS_LABEL } from './lib/staff.js';

const session = await requireStaff(['clinician']);
const me = session.user;
mountHeader(me);

const state = {
  queues: new Map(), // id -> {id, name, entries}
  clinicians: new Map(),
  consult: null, // {visit, call, view, stream}
  signal: null,
};
window.__bedside = {
  get signal() { return state.signal; },
  get call() { return state.consult?.call ?? null; },
};

function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ''; }, 6000);
}

// ---- queues ----

const alerts = mountAlerts($('#alerts'), $('#alert-sound'), {
  admit: (visitId) => admit(visitId),
  canAdmit: (entry) => !state.consult && (!entry.clinician_id || entry.clinician_id === me.id),
});

function renderQueues() {
  alerts.update([...state.queues.values()].flatMap((q) => q.entries ?? []));
  const root = $('#queue-list');
  if (state.queues.size === 0) {
    root.replaceChildren(h('p', { class: 'empty' }, 'No queues yet.'));
    return;
  }
  root.replaceChildren(...[...state.queues.values()].map((queue) => {
    const entries = (queue.entries ?? []).filter((e) => e.status === 'waiting' || e.status === 'in_consult');
    const waiting = entries.filter((e) => e.status === 'waiting').length;
    return h('section', { class: 'queue', 'aria-labelledby': `q-${queue.id}` },
      h('div', { class: 'queue-head' },
        h('h2', { id: `q-${queue.id}` }, queue.name, ' ', h('span', { class: 'count' }, queue.entries === null ? '' : `${waiting} waiting`)),
        h('button', {
          type: 'button', class: 'small', 'data-testid': `admit-next-${queue.id}`,
          disabled: Boolean(state.consult) || waiting === 0,
          onclick: () => admitNext(queue.id),
        }, 'Admit next')),
      queue.entries === null
        ? h('p', { class: 'empty' }, 'Loading the queue\u2026')
        : entries.length === 0
        ? h('p', { class: 'empty' }, 'No one is waiting.')
        : h('ol', { class: 'entries' }, entries.map(entryRow)));
  }));
}

function entryRow(entry) {
  const mine = entry.clinician_id === me.id;
  const assigned = entry.clinician_id
    ? (mine ? 'assigned to you' : `assigned to ${state.clinicians.get(entry.clinician_id)?.display_name ?? 'another clinician'}`)
    : null;
  let action = null;
  if (entry.status === 'waiting') {
    action = h('button', {
      type: 'button', class: 'small', 'data-testid': `admit-${entry.visit_id}`,
      disabled: Boolean(state.consult) || (entry.clinician_id && !mine),
      'aria-label': `Admit ${entry.patient_name}`,
      onclick: () => admit(entry.visit_id),
    }, 'Admit');
  } else if (entry.status === 'in_consult' && mine && state.consult?.visit.id !== entry.visit_id) {
    action = h('button', {
      type: 'button', class: 'small secondary', 'data-testid': `resume-${entry.visit_id}`,
      disabled: Boolean(state.consult),
      onclick: () => resume(entry.visit_id),
    }, 'Return to consult');
  }
  return h('li', { class: `entry priority-${entry.priority}`, dataset: { visitId: entry.visit_id } },
    h('div', { class: 'entry-main' },
      h('span', { class: 'name' }, entry.patient_name),
      h('span', { class: `badge ${entry.priority}` }, PRIORITY_LABEL[entry.priority] ?? entry.priority),
      entry.status !== 'waiting' ? h('span', { class: 'badge status' }, STATUS_LABEL[entry.status]) : null,
      entry.emergency ? h('span', { class: 'badge critical', title: entry.emergency.findings.join('; ') },
        `Emergency: ${entry.emergency.findings.join('; ')}`) : null,
      entry.network ? h('span', {
        class: `badge network ${entry.network}`, 'data-testid': `network-${entry.visit_id}`,
        title: 'The patient\'s pre-call network check',
      }, `network: ${NETWORK_LABEL[entry.network] ?? entry.network}`) : null),
    h('div', { class: 'entry-meta' },
      entry.status === 'waiting' ? [
        h('span', { class: 'waited', dataset: { since: entry.waiting_since ?? '' } }, `waiting ${duration(secondsSince(entry.waiting_since))}`),
        ' · ', `#${entry.position}`, ' · ', `est. ${duration(entry.estimated_wait_seconds)}`,
      ] : null,
      assigned ? [' · ', assigned] : null),
    action);
}

// Waiting times tick without a server round trip.
setInterval(() => {
  for (const el of $$('.waited')) if (el.dataset.since) el.textContent = `waiting ${duration(secondsSince(el.dataset.since))}`;
}, 15_000);

async function admit(visitId) {
  try {
    const visit = await api(`/visits/${encodeURIComponent(visitId)}/admit`, { method: 'POST' });
    await openConsult(visit);
  } catch (e) {
    toast(e.status === 409 ? 'That patient is no longer waiting.' : e.message);
  }
}

async function admitNext(queueId) {
  try {
    const visit = await api(`/queues/${encodeURIComponent(queueId)}/next`, { method: 'POST' });
    if (!visit) { toast('No one is waiting in that queue.'); return; }
    await openConsult(visit);
  } catch (e) {
    toast(e.message);
  }
}

async function resume(visitId) {
  try {
    await openConsult(await api(`/visits/${encodeURIComponent(visitId)}`));
  } catch (e) {
    toast(e.message);
  }
}

// ---- consult ----

/** The patient's name as the queue lists it, until the chart says more. */
function queuedName(visitId) {
  for (const queue of state.queues.values()) {
    const entry = queue.entries?.find((e) => e.visit_id === visitId);
    if (entry) return entry.patient_name;
  }
  return 'The patient';
}

async function openConsult(visit) {
  if (state.consult) return;
  state.consult = { visit };
  renderQueues();
  $('#no-consult').hidden = true;
  $('#consult-body').hidden = false;
  $('#note-form').reset();
  $('#note-error').textContent = '';
  $('#n-subjective').value = visit.symptoms?.length ? `Reports: ${visit.symptoms.join(', ')}.` : '';
  state.consult.draft = keepDraft($('#note-form'), {
    api, path: `/visits/${encodeURIComponent(visit.id)}/draft`, status: $('#draft-status'),
  });
  state.consult.draft.restore();
  $('#patient-title').textContent = 'Loading chart\u2026';
  $('#chart').replaceChildren();

  // The call starts as soon as its media plan is here. A direct call joins
  // first and opens the camera while it connects (opening it holds up the
  // page's other work), then sends it on the senders it has; a LiveKit room
  // publishes what it has on joining, so it waits for the camera. The chart
  // fills in beside the call when it arrives.
  const history = api(`/patients/${encodeURIComponent(visit.patient_id)}/history`).catch((e) => ({ error: e.message }));
  const media = await api(`/visits/${encodeURIComponent(visit.id)}/media`)
    .catch((e) => ({ ice_servers: [], unavailable: e.status === 503 }));
  if (state.consult?.visit.id !== visit.id) return;
  state.consult.media = media;
  state.consult.patientName = queuedName(visit.id);
  if (media.mode === 'livekit') {
    const devices = await openDevices();
    if (state.consult?.visit.id !== visit.id) { stopStream(devices.stream); return; }
    state.consult.stream = devices.stream;
    showDeviceNote(devices, media);
    startCall();
  } else {
    const stream = new MediaStream();
    state.consult.stream = stream;
    startCall({ mediaPending: true });
    openDevices().then((devices) => {
      if (state.consult?.stream !== stream) { stopStream(devices.stream); return; }
      for (const track of devices.stream?.getTracks() ?? []) stream.addTrack(track);
      showDeviceNote(devices, media);
      state.consult.call?.mediaArrived();
    });
  }
  const chart = await history;
  if (state.consult?.visit.id !== visit.id) return;
  renderChart(visit, chart);
  loadCds(visit);
  loadApps(visit);
  loadGuests();
  focusStep($('#patient-title'));
}

/** What the camera check found, and whether group video is down, in words. */
function showDeviceNote(devices, media) {
  const note = $('#device-note');
  // Without its plan the call falls back to a direct (peer-to-peer) call;
  // say so rather than fail silently when group video is down.
  const notes = [];
  if (devices.problem) notes.push(`${devices.problem.title}. ${devices.problem.audioOnly ? 'The call is audio only.' : ''}`);
  if (media.unavailable) notes.push('Group video is unavailable right now, so invited guests cannot join. The call with the patient goes ahead directly. Reopen the consult in a minute to try group video again.');
  note.hidden = notes.length === 0;
  note.textContent = notes.join(' ');
  if (media.unavailable) note.setAttribute('data-testid', 'group-video-unavailable');
  else note.removeAttribute('data-testid');
}

// The call of the open consult: joined at admission, after a reload, or
// again after the clinician hung up. Hanging up ends the call only; the
// visit stays open until it is closed with its note.
function startCall({ mediaPending = false } = {}) {
  const consult = state.consult;
  const call = callFor(consult.media, {
    signal: state.signal, role: 'clinician', stream: consult.stream ?? new MediaStream(), mediaPending,
  });
  consult.call = call;
  consult.view = mountCall($('#call-root'), {
    call,
    signal: state.signal,
    remoteLabel: consult.patientName,
    onLeave: hangUp,
    leave: { label: 'End call', testid: 'hang-up' },
    heading: 'h3', // under the patient's name, an h2
    loadMessages: () => api(`/visits/${encodeURIComponent(consult.visit.id)}/messages`),
    allowScreenShare: (allowed) => api(`/visits/${encodeURIComponent(consult.visit.id)}/screen-share`, { method: 'PUT', body: { allowed } }),
  });
  watchMeasuredCall(consult);
  call.addEventListener('state', (e) => {
    if (e.detail === 'reconnecting') showPatientPresence('The connection to the patient dropped: reconnecting…');
    else if (e.detail === 'connected') showPatientPresence('The patient is in the call.');
  });
  state.signal.send({ type: 'join', visit_id: consult.visit.id });
}

function hangUp() {
  const consult = state.consult;
  if (!consult?.call) return;
  state.signal.send({ type: 'leave' });
  consult.call.hangUp();
  consult.view?.destroy();
  consult.call = null;
  consult.view = null;
  showPatientPresence('');
  $('#call-root').replaceChildren(h('div', { class: 'call-ended panel-inset' },
    h('p', { 'data-testid': 'call-state' }, 'ended'),
    h('p', {}, 'You ended the call. The visit is still open: finish the note and close it, or call the patient again.'),
    h('button', { type: 'button', 'data-testid': 'call-again', onclick: () => startCall() }, 'Call again')));
  focusStep($('#note-title'));
}

// The call as the browsers' quality summaries measured it, beside the close
// form: its connected and audio-only minutes set the defaults the server
// bills from; the clinician says why when ticking otherwise.
const MEASURE_EVERY_MS = 10_000;

function watchMeasuredCall(consult) {
  clearInterval(consult.measureTimer);
  const read = async () => {
    if (state.consult !== consult) { clearInterval(consult.measureTimer); return; }
    const measured = await api(`/visits/${encodeURIComponent(consult.visit.id)}/call`).catch(() => null);
    if (!measured || state.consult !== consult) return;
    consult.measured = measured;
    showMeasuredCall(consult);
  };
  consult.measureTimer = setInterval(read, MEASURE_EVERY_MS);
  read();
}

function showMeasuredCall(consult) {
  const m = consult.measured;
  if (!m?.measured) return;
  const mode = m.mostly_audio_only ? 'mostly audio only' : 'mostly video';
  $('#call-measure').textContent = `Measured call: ${m.connected_minutes} connected min, `
    + `${m.audio_only_minutes} audio-only (${mode}); quality ${m.quality_summary}.`;
  $('#n-minutes-hint').textContent = `Leave empty to use the call's connected time (${m.connected_minutes} min so far).`;
  if (!consult.audioTouched) $('#n-audio-only').checked = m.mostly_audio_only;
  showOverride(consult);
}

/** The reason field, when the clinician's tick contradicts the measured call. */
function showOverride(consult) {
  const m = consult.measured;
  const differs = Boolean(m?.measured && consult.audioTouched && $('#n-audio-only').checked !== m.mostly_audio_only);
  $('#n-override').hidden = !differs;
  return differs;
}

function showPatientPresence(text) {
  $('#patient-presence').textContent = text;
}

$('#n-audio-only').addEventListener('change', () => {
  if (!state.consult) return;
  state.consult.audioTouched = true;
  showOverride(state.consult);
});
$('#close-anyway').addEventListener('click', () => {
  if (!state.consult) return;
  state.consult.reviewAccepted = true;
  $('#billing-warning').hidden = true;
  $('#note-form').requestSubmit();
});
attachCodeSearch($('#n-diagnoses'), $('#n-diagnoses-options'), api, { several: true });
for (const id of ['#n-minutes', '#n-diagnoses', '#n-audio-only', '#n-location']) {
  $(id).addEventListener('input', () => {
    if (!state.consult) return;
    state.consult.reviewAccepted = false;
    $('#billing-warning').hidden = true;
  });
}

// ---- guests ----

const GUEST_KIND = { interpreter: 'Interpreter', family: 'Family member', other: 'Other' };
const GUEST_STATUS = { invited: 'invited', admitted: 'in the call', revoked: 'removed' };
/** How often the list is refreshed while someone may be waiting to be let in. */
const GUEST_POLL_MS = 4_000;

function guestsPath(visitId) {
  return `/visits/${encodeURIComponent(visitId)}/guests`;
}

async function loadGuests() {
  const consult = state.consult;
  if (!consult) return;
  clearTimeout(consult.guestPoll);
  try {
    consult.guests = await api(guestsPath(consult.visit.id));
  } catch (e) {
    $('#guest-error').textContent = e.message;
  }
  if (state.consult !== consult) return;
  renderGuests();
  if ((consult.guests ?? []).some((g) => g.status === 'invited')) {
    consult.guestPoll = setTimeout(loadGuests, GUEST_POLL_MS);
  }
}

function renderGuests() {
  const consult = state.consult;
  const list = $('#guest-list');
  if (!consult) { list.replaceChildren(); return; }
  const links = consult.guestLinks ?? new Map();
  list.replaceChildren(...(consult.guests ?? []).filter((g) => g.status !== 'revoked').map((g) => {
    const link = links.get(g.id);
    return h('li', { class: 'guest', 'data-testid': `guest-${g.id}` },
      h('span', { class: 'name' }, g.display_name), ' ',
      h('span', { class: 'badge status' }, `${GUEST_KIND[g.kind] ?? g.kind}, ${GUEST_STATUS[g.status] ?? g.status}`),
      g.status === 'invited' && g.online
        ? [' ', h('span', { class: 'badge info', 'data-testid': `guest-waiting-${g.id}` }, 'waiting to be let in')] : null,
      link ? h('div', { class: 'copy-row' },
        h('label', { for: `guest-link-${g.id}`, class: 'visually-hidden' }, `Link for ${g.display_name}`),
        h('input', { id: `guest-link-${g.id}`, readOnly: true, value: link, 'data-testid': `guest-link-${g.id}` }),
        h('button', { type: 'button', class: 'small secondary', onclick: () => navigator.clipboard?.writeText(link).then(() => toast('Link copied.')).catch(() => {}) }, 'Copy')) : null,
      h('div', { class: 'guest-actions' },
        g.status === 'invited' ? h('button', {
          type: 'button', class: 'small', 'data-testid': `guest-admit-${g.id}`,
          onclick: () => guestAction(g, 'admit'),
        }, 'Let in') : null,
        h('button', {
          type: 'button', class: 'small secondary', 'data-testid': `guest-revoke-${g.id}`,
          onclick: () => guestAction(g, 'revoke'),
        }, 'Remove')));
  }));
}

async function guestAction(guest, action) {
  $('#guest-error').textContent = '';
  try {
    await api(`${guestsPath(guest.visit_id)}/${encodeURIComponent(guest.id)}/${action}`, { method: 'POST', body: {} });
  } catch (e) {
    $('#guest-error').textContent = e.message;
  }
  await loadGuests();
}

$('#guest-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const consult = state.consult;
  if (!consult) return;
  const form = event.currentTarget;
  const error = $('#guest-error');
  error.textContent = '';
  form.display_name.removeAttribute('aria-invalid');
  try {
    const invited = await api(guestsPath(consult.visit.id), {
      method: 'POST',
      body: { display_name: form.display_name.value.trim(), kind: form.kind.value },
    });
    consult.guestLinks ??= new Map();
    consult.guestLinks.set(invited.guest.id, invited.join_url);
    form.reset();
  } catch (e) {
    error.textContent = e.message;
    if (e.field === 'display_name') {
      form.display_name.setAttribute('aria-invalid', 'true');
      form.display_name.focus();
    }
  }
  await loadGuests();
});

function endConsult(message) {
  const consult = state.consult;
  if (!consult) return;
  clearTimeout(consult.guestPoll);
  clearInterval(consult.measureTimer);
  consult.draft?.stop();
  $('#billing-warning').hidden = true;
  $('#call-measure').textContent = 'The call has not been measured yet.';
  $('#n-override').hidden = true;
  showPatientPresence('');
  consult.call?.hangUp();
  consult.view?.destroy();
  stopStream(consult.stream);
  state.consult = null;
  // Nothing of the patient stays on the page.
  $('#call-root').replaceChildren();
  $('#chart').replaceChildren();
  $('#patient-title').textContent = '';
  $('#patient-meta').textContent = '';
  $('#note-form').reset();
  $('#guest-form').reset();
  $('#guest-list').replaceChildren();
  $('#guest-error').textContent = '';
  $('#consult-body').hidden = true;
  $('#no-consult').hidden = false;
  renderQueues();
  if (message) toast(message);
  focusStep($('#queues-title'));
}

// Vital signs in plain words, by LOINC code.
const NEWS2_LOINC = '88330-6';
const VITAL_LABEL = {
  '8867-4': 'Heart rate', '9279-1': 'Respiratory rate', '2708-6': 'Oxygen saturation', '59408-5': 'Oxygen saturation',
  '8480-6': 'Systolic blood pressure', '8310-5': 'Temperature', '67775-7': 'Responsiveness',
};
const VITAL_UNIT = { '8867-4': '/min', '9279-1': '/min', '2708-6': '%', '59408-5': '%', '8480-6': 'mmHg' };
const RISK_LABEL = { low: 'low risk', 'low-medium': 'one parameter scores 3', medium: 'medium risk', high: 'high risk' };

function vitalValue(o) {
  if (o.value === null || o.value === undefined) return o.value_code === '248234008' ? 'Alert' : 'Confused or drowsy';
  if (o.code === '8310-5') return temperature(o.value, state.clinic);
  const unit = VITAL_UNIT[o.code] ?? o.unit ?? '';
  return unit === '%' || unit === '/min' ? `${o.value}${unit}` : `${o.value} ${unit}`.trim();
}

function age(birthDate) {
  const born = new Date(birthDate);
  const now = new Date();
  let years = now.getFullYear() - born.getFullYear();
  if (now < new Date(now.getFullYear(), born.getMonth(), born.getDate())) years -= 1;
  return years;
}

// ---- SMART apps beside the chart (EHR launch) ----

async function loadApps(visit) {
  const apps = await api('/smart/apps').catch(() => []);
  const launchable = apps.filter((app) => app.active && app.launch_url);
  if (!launchable.length || state.consult?.visit.id !== visit.id) return;
  const message = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'apps-error' });
  const list = h('ul', { class: 'app-list' }, launchable.map((app) => h('li', {},
    h('button', {
      type: 'button', class: 'secondary small', 'data-testid': `app-launch-${app.client_id}`,
      onclick: () => launchApp(app, visit, message),
    }, `Open ${app.name}`))));
  $('#chart').append(section('Apps', 'apps', list, message));
}

// The app opens in a new tab with `iss` and a launch id bound to this
// clinician, patient and encounter. The tab is opened at the click (no
// popup blocker) and sent to the app once the launch exists.
async function launchApp(app, visit, message) {
  message.textContent = '';
  const tab = window.open('about:blank', '_blank');
  try {
    const launch = await api('/smart/launches', {
      method: 'POST',
      body: { client_id: app.client_id, patient_id: visit.patient_id, encounter_id: visit.encounter_id },
    });
    if (tab) {
      tab.opener = null;
      tab.location.href = launch.launch_url;
    } else {
      location.assign(launch.launch_url);
    }
  } catch (e) {
    tab?.close();
    message.textContent = `${app.name} could not be opened: ${e.message}`;
  }
}

function section(title, testid, ...content) {
  const id = `chart-${testid}`;
  return h('section', { class: 'chart-section', 'aria-labelledby': id, 'data-testid': `chart-${testid}` },
    h('h3', { id }, title), ...content);
}

const ENTRY_LIST = { allergy: 'allergies', medication: 'medications', problem: 'conditions' };

function renderChart(visit, history) {
  const chart = $('#chart');
  if (history.error) {
    $('#patient-title').textContent = 'Chart unavailable';
    chart.replaceChildren(h('p', { class: 'field-error' }, history.error));
    return;
  }
  const p = history.patient;
  $('#patient-title').textContent = `${p.given_name} ${p.family_name}`;
  $('#patient-meta').textContent = [
    `${age(p.birth_date)} y`, p.sex, p.mrn ? (p.mrn.startsWith('MRN') ? p.mrn : `MRN ${p.mrn}`) : null, visit.reason ? `Reason: ${visit.reason}` : null,
    PRIORITY_LABEL[visit.priority],
  ].filter(Boolean).join(' · ');

  const latest = new Map();
  for (const o of history.vitals ?? []) {
    const seen = latest.get(o.code);
    if (!seen || Date.parse(o.effective_at) > Date.parse(seen.effective_at)) latest.set(o.code, o);
  }
  const when = (o) => (o.encounter_id === visit.encounter_id ? 'this visit' : date(o.effective_at));
  const vitalsRows = [...latest.values()].filter((o) => o.code !== NEWS2_LOINC).map((o) => h('tr', {},
    h('th', { scope: 'row' }, VITAL_LABEL[o.code] ?? o.display),
    h('td', {}, vitalValue(o)),
    h('td', {}, when(o))));
  const score = latest.get(NEWS2_LOINC);
  const risk = score?.encounter_id === visit.encounter_id ? RISK_LABEL[visit.news2_risk] : null;
  const news2Line = score ? h('p', { class: `news2 ${risk ? visit.news2_risk : ''}`, 'data-testid': 'news2' },
    `NEWS2 total score: ${score.value}`, risk ? ` (${risk})` : '', ` — ${when(score)}`) : null;

  chart.replaceChildren(
    h('div', { id: 'cds-cards', 'data-testid': 'cds-cards', 'aria-live': 'polite' }),
    section('Vital signs', 'vitals',
      news2Line,
      vitalsRows.length
        ? h('table', { class: 'vitals-table' }, h('caption', { class: 'visually-hidden' }, 'Latest vital signs'), h('tbody', {}, vitalsRows))
        : h('p', { class: 'empty' }, 'No vital signs recorded.')),
    section('Symptoms', 'symptoms',
      visit.symptoms?.length ? h('ul', {}, visit.symptoms.map((s) => h('li', {}, s))) : h('p', { class: 'empty' }, 'None reported.')),
    ...['allergy', 'medication', 'problem'].map((noun) => entrySection(noun, {
      api, patientId: visit.patient_id, items: history[ENTRY_LIST[noun]] ?? [], onChange: () => loadCds(visit),
    })),
    section('Past visits', 'history',
      (history.encounters ?? []).filter((e) => e.id !== visit.encounter_id).length
        ? h('ul', {}, history.encounters.filter((e) => e.id !== visit.encounter_id).map((e) => {
          const note = history.notes?.find((n) => n.encounter_id === e.id);
          return h('li', {}, h('strong', {}, date(e.period_start ?? e.created_at)), ` ${e.reason} (${e.status})`,
            note?.assessment ? h('p', { class: 'meta' }, `Assessment: ${note.assessment}`) : null,
            pastChat(e, history.messages ?? []));
        }))
        : h('p', { class: 'empty' }, 'No earlier visits.')),
  );
}

// A past visit's chat, kept in its record: folded under the visit.
function pastChat(encounter, messages) {
  const own = messages.filter((m) => m.encounter_id === encounter.id);
  if (!own.length) return null;
  return h('details', { class: 'past-chat', 'data-testid': `past-chat-${encounter.id}` },
    h('summary', {}, `Chat (${own.length} ${own.length === 1 ? 'message' : 'messages'})`),
    h('ol', { class: 'chat-log' }, own.map((m) => h('li', {},
      h('span', { class: 'who' }, m.sender.display_name), ' ', h('time', { datetime: m.at }, clock(m.at)), h('p', {}, m.text)))));
}

async function loadCds(visit) {
  let answer;
  try {
    answer = await api(`/visits/${encodeURIComponent(visit.id)}/cds`);
  } catch {
    return; // Decision support is optional: a 404 means it is not there yet.
  }
  if (state.consult?.visit.id !== visit.id) return;
  const cards = Array.isArray(answer) ? answer : answer?.cards ?? [];
  const root = $('#cds-cards');
  if (!root) return;
  if (cards.length === 0) {
    root.replaceChildren();
    return;
  }
  root.replaceChildren(section('Decision support', 'cds', h('ul', { class: 'cards' }, cards.map((card) => {
    const indicator = ['critical', 'warning', 'info'].includes(card.indicator) ? card.indicator : 'info';
    return h('li', { class: `card-cds ${indicator}`, 'data-testid': 'cds-card' },
      h('p', { class: 'card-summary' }, h('span', { class: `badge ${indicator}` }, indicator), ' ', card.summary ?? ''),
      card.detail ? h('p', { class: 'card-detail' }, card.detail) : null,
      card.source?.label ? h('p', { class: 'meta' }, `Source: ${card.source.label}`) : null,
      (card.links ?? []).filter((l) => /^https?:\/\//.test(l.url ?? '')).map((l) =>
        h('a', { href: l.url, target: '_blank', rel: 'noopener noreferrer' }, l.label ?? l.url)));
  }))));
}

$('#note-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const consult = state.consult;
  if (!consult) return;
  const form = event.currentTarget;
  const error = $('#note-error');
  error.textContent = '';
  for (const el of $$('[aria-invalid]', form)) el.removeAttribute('aria-invalid');
  const diagnoses = form.diagnoses.value.split(/[\s,;]+/).map((c) => c.trim().toUpperCase()).filter(Boolean);
  const fail = (field, text) => {
    error.textContent = text;
    field.setAttribute('aria-invalid', 'true');
    field.focus();
  };
  if (!form.assessment.value.trim()) return fail(form.assessment, 'Add an assessment before closing.');
  if (diagnoses.length === 0) return fail(form.diagnoses, 'Add at least one diagnosis code before closing (for example J06.9).');
  if (diagnoses.length > 12) return fail(form.diagnoses, 'A claim carries at most 12 diagnosis codes: remove some before closing.');
  if (!form.minutes.checkValidity()) return fail(form.minutes, 'Total minutes must be a whole number from 1 to 600, or empty to use the call\'s length.');
  const body = {
    diagnoses,
    note: {
      subjective: form.subjective.value.trim(),
      objective: form.objective.value.trim(),
      assessment: form.assessment.value.trim(),
      plan: form.plan.value.trim(),
    },
    patient_location: form.location.value,
  };
  // Untouched, the server bills the measured call's modality.
  if (consult.audioTouched || !consult.measured?.measured) body.audio_only = form.audio_only.checked;
  if (showOverride(consult)) {
    const reason = form.override_reason.value.trim();
    if (!reason) return fail(form.override_reason, 'Say why the claim should differ from the measured call, or untick the change.');
    body.call_override_reason = reason;
  }
  if (form.minutes.value) body.total_minutes = Number(form.minutes.value);
  const button = $('[data-testid=close-visit]', form);
  button.disabled = true;
  // Before the claim is made: tell the clinician when billing would hold
  // it for review, while the minutes can still be corrected.
  if (!consult.reviewAccepted) {
    const { note: _, ...coding } = body;
    const preview = await api(`/visits/${encodeURIComponent(consult.visit.id)}/close/preview`, { method: 'POST', body: coding })
      .catch(() => null);
    if (preview?.status === 'needs_review') {
      $('#billing-warning-text').textContent = preview.review_reason;
      $('#billing-warning').hidden = false;
      form.minutes.focus();
      button.disabled = false;
      return;
    }
  }
  try {
    await consult.draft?.flush();
    await api(`/visits/${encodeURIComponent(consult.visit.id)}/close`, { method: 'POST', body });
    state.signal.send({ type: 'leave' });
    endConsult('Visit closed. The note is saved and billing has it.');
  } catch (e) {
    const field = e.field === 'diagnoses' || e.field?.startsWith('diagnoses') ? form.diagnoses
      : e.field === 'total_minutes' ? form.minutes
        : e.field === 'call_override_reason' ? form.override_reason
        : e.field?.startsWith('note.') ? form[e.field.slice(5)] : null;
    const text = closeError(e, diagnoses);
    if (field) fail(field, text);
    else error.textContent = text;
  } finally {
    button.disabled = false;
  }
});

/** A refused close in a sentence that says what to do. */
function closeError(e, diagnoses) {
  const index = /^diagnoses\[(\d+)\]/.exec(e.field ?? '')?.[1];
  if (index !== undefined) {
    // The code set's answer names the code and, for a heading, the codes under it.
    if (e.status === 422) return `${e.message.replace(/^diagnoses\[\d+\]: /, '')}. Correct it before closing.`;
    const code = diagnoses[Number(index)] ?? '';
    return `${code || 'A diagnosis code'} is not a billable ICD-10-CM code: check it (for example J06.9) before closing.`;
  }
  if (e.field === 'diagnoses') return 'Check the diagnosis codes before closing: at least one, at most 12.';
  if (e.field === 'total_minutes') return 'Total minutes must be a whole number from 1 to 1440.';
  if (e.field?.startsWith('note.')) {
    const part = e.field.slice(5);
    return /empty/.test(e.message) ? `Add ${part === 'assessment' ? 'an assessment' : `the ${part}`} before closing.`
      : `The ${part} is too long: shorten it before closing.`;
  }
  if (e.status === 409) return 'This visit can no longer be closed here: it was closed or changed elsewhere. Reload the page.';
  return e.message;
}

// ---- presence and live updates ----

function showMyPresence(status) {
  const select = $('#presence');
  select.value = status === 'offline' ? 'available' : status;
  select.disabled = status === 'in_consult';
}

$('#presence').addEventListener('change', (event) => {
  state.signal.send({ type: 'presence', status: event.target.value });
});

// After a reload the console goes back to the consult this clinician has
// in progress, once, and rejoins its call.
let resumedOnce = false;
function resumeOwnConsult(entries) {
  if (resumedOnce || state.consult) return;
  const mine = entries.find((e) => e.status === 'in_consult' && e.clinician_id === me.id);
  if (!mine) return;
  resumedOnce = true;
  resume(mine.visit_id);
}

async function start() {
  const [queues, clinicians, clinic] = await Promise.all([
    api('/queues'), api('/users?role=clinician').catch(() => []), clinicSettings()]);
  state.clinic = clinic;
  for (const c of clinicians) state.clinicians.set(c.id, c);
  // `null` until the socket's snapshot: the page never says no one waits before it knows.
  for (const q of queues) state.queues.set(q.id, { ...q, entries: null });
  renderQueues();
  const signal = liveSocket(session.token, queues.map((q) => q.id));
  state.signal = signal;
  signal.addEventListener('welcome', (e) => {
    // The old session could not be resumed: take the call's room back.
    if (!e.detail.resumed && e.detail.previous && state.consult) {
      signal.send({ type: 'join', visit_id: state.consult.visit.id });
    }
  });
  signal.on('queue', (f) => {
    const queue = state.queues.get(f.queue_id);
    if (queue) queue.entries = f.entries;
    renderQueues();
    resumeOwnConsult(f.entries);
  });
  signal.on('presence', (f) => { if (f.user_id === me.id) showMyPresence(f.status); });
  signal.on('joined', (f) => state.consult?.call?.rejoined(f.participants.filter((p) => p.role === 'patient' || p.role === 'guest')));
  signal.on('peer_joined', (f) => {
    if (f.role === 'patient' || f.role === 'guest') state.consult?.call?.setPeer(f);
    if (f.role === 'patient' && state.consult?.call) showPatientPresence('The patient is back in the call.');
  });
  signal.on('peer_left', (f) => {
    if (f.reason === 'room_closed') { endConsult('The visit was closed.'); return; }
    const wasPatient = state.consult?.call?.links?.get(f.participant_id) === state.consult?.call?.primary;
    state.consult?.call?.peerLeft(f.participant_id);
    if (wasPatient && state.consult?.call) showPatientPresence('The patient has left the call. They can rejoin from their link.');
  });
  signal.on('error', (f) => { if (f.code !== 'rate_limited') console.warn('socket error', f.code); });
  await signal.connect();
  const presence = await api('/presence?role=clinician').catch(() => []);
  const mine = presence.find((p) => p.user_id === me.id);
  showMyPresence(mine?.status ?? 'available');
}

start().catch((e) => toast(e.message));
