// The patient's page, from the join link: device check, consent, intake,
// the waiting room, the call, and a clear end.

import { apiClient } from './lib/api.js';
import { h, $, $$, duration, date } from './lib/dom.js';
import { showSection, visitLink } from './lib/visitlink.js';
import { openDevices, watchLevel, playTestSound, stopStream } from './lib/devices.js';
import { Signal } from './lib/socket.js';
import { callFor } from './lib/livekit.js';
import { mountCall } from './lib/callview.js';
import { runPrecallCheck, VERDICT_LABEL } from './lib/precall.js';
import { clinicSettings, spelled, toCelsius } from './lib/clinic.js';
import { showEmergency } from './lib/emergency.js';

const { visitId, token, forget: forgetToken } = visitLink('patient');
// Any refused token (401) means the link is dead, wherever the page is.
const api = apiClient(() => token, () => linkDead());

const symptoms = (clinic) => ['Fever', 'Cough', 'Sore throat', 'Shortness of breath', 'Chest pain',
  'Headache', 'Nausea or vomiting', spelled(clinic, 'Diarrhea', 'Diarrhoea'), 'Rash', 'Dizziness'];

const page = {
  stream: null,
  stopLevel: () => {},
  audioOnlyChosen: false,
  signal: null,
  call: null,
  view: null,
  iceServers: [],
  resumeStatus: null, // status at load, when the patient comes back mid-visit
  consent: false,
  clinic: null, // the clinic's region settings
};
// Test and support hook: the live socket and call of this page.
window.__bedside = {
  get signal() { return page.signal; },
  get call() { return page.call; },
};

const STEP_ORDER = ['device', 'consent', 'intake', 'waiting', 'call'];

function showStep(name) {
  const index = STEP_ORDER.indexOf(name);
  for (const li of $$('.steps li')) {
    const i = STEP_ORDER.indexOf(li.dataset.step);
    li.classList.toggle('done', index >= 0 && i < index);
    if (li.dataset.step === name) li.setAttribute('aria-current', 'step');
    else li.removeAttribute('aria-current');
  }
  $('.steps').hidden = name === 'end' || name === 'loading' || name === 'call';
  showSection(name);
}

function end(title, text, { rejoin = false, forget = false } = {}) {
  page.call?.hangUp();
  page.view?.destroy();
  $('#call-root').replaceChildren();
  page.call = null;
  page.view = null;
  page.signal?.close();
  page.stopLevel();
  stopStream(page.stream);
  page.stream = null;
  $('#end-title').textContent = title;
  $('#end-text').textContent = text;
  $('#rejoin').hidden = !rejoin;
  if (forget) forgetToken();
  document.title = `${title} — Bedside`;
  showStep('end');
}

// The link's token was refused: revoked, replaced by a newer link, its
// visit cancelled, or its days after the visit are over.
function linkDead() {
  end('This link is no longer valid', 'Ask the clinic for a new one.', { forget: true });
}

const ENDED = {
  closed: ['Your visit has ended', 'Thank you. Your clinician has finished the visit. Your summary is below.'],
  cancelled: ['This visit was cancelled', 'Please contact the clinic if you still need to be seen.'],
  no_show: ['This visit was closed', 'The visit was marked as missed. Please contact the clinic to book again.'],
};

// ---- the after-visit summary ----

function fillList(list, lines, empty) {
  list.replaceChildren(...(lines.length ? lines : [empty]).map((line) => h('li', {}, line)));
}

// A closed visit shows its summary; the token is kept while the summary is
// available, so a reload shows it again. After its days the link itself
// stops working and the page says so (the token is forgotten).
async function showSummary() {
  const [title, text] = ENDED.closed;
  end(title, text);
  let summary;
  try {
    summary = await api(`/visits/${encodeURIComponent(visitId)}/summary`);
  } catch (e) {
    if (e.status === 410) {
      end('Your visit summary is no longer available', e.message, { forget: true });
    } else {
      $('#end-text').textContent = 'Thank you. Your clinician has finished the visit. Your summary could not be loaded; reload this page to try again.';
    }
    return;
  }
  $('#summary-date').textContent = date(summary.visit_date);
  $('#summary-clinician').textContent = summary.clinician_name ?? 'Your clinician';
  fillList($('#summary-diagnoses'), summary.diagnoses.map((d) => (d.description
    ? `${d.description} (${d.code})` : d.code)), 'None recorded');
  const instructions = summary.instructions.length ? summary.instructions
    : (summary.plan.trim() ? [summary.plan.trim()] : []);
  fillList($('#summary-instructions'), instructions, 'None recorded');
  fillList($('#summary-follow-up'), summary.follow_up, 'No follow-up was set. Contact the clinic if you are not getting better.');
  if (summary.clinic) {
    $('#summary-clinic-text').textContent = summary.clinic.phone
      ? `${summary.clinic.name}: ${summary.clinic.phone}` : summary.clinic.name;
    $('#summary-clinic').hidden = false;
  }
  $('#summary-until').textContent = `This summary is available here until ${date(summary.available_until)}. Print it to keep a copy.`;
  $('#summary').hidden = false;
  document.title = 'Your visit summary — Bedside';
}

$('#summary-print').addEventListener('click', () => window.print());

// ---- device check ----

async function startDevices() {
  page.stopLevel();
  stopStream(page.stream);
  const retry = $('#device-retry');
  const problemBox = $('#device-problem');
  const continueButton = $('#device-continue');
  continueButton.disabled = true;
  const { stream, problem } = await openDevices();
  page.stream = stream;
  const preview = $('#preview');
  preview.srcObject = stream;
  const hasVideo = Boolean(stream?.getVideoTracks().length);
  preview.hidden = !hasVideo;
  $('#preview-empty').hidden = hasVideo;
  page.stopLevel = watchLevel(stream, (level) => { $('#mic-level').value = level; });
  problemBox.hidden = !problem;
  retry.hidden = !problem;
  continueButton.disabled = false;
  if (problem) {
    $('#problem-title').textContent = problem.title;
    const steps = [...problem.steps];
    if (problem.audioOnly) steps.push('You can also continue with audio only: your clinician will hear you but not see you.');
    else if (!stream) steps.push('You can continue without them and use the chat, but your clinician will not see or hear you.');
    $('#problem-steps').replaceChildren(...steps.map((s) => h('li', {}, s)));
    problemBox.dataset.kind = problem.kind;
    continueButton.textContent = problem.audioOnly ? 'Continue with audio only'
      : stream ? 'Continue' : 'Continue without camera and microphone';
  } else {
    continueButton.textContent = page.resumeStatus ? 'Return to your visit' : 'Continue';
  }
}

// ---- network check ----

async function mediaPlan() {
  try {
    page.media = await api(`/visits/${encodeURIComponent(visitId)}/media`);
  } catch {
    page.media = null;
  }
  page.iceServers = page.media?.ice_servers ?? [];
}

async function checkNetwork() {
  const verdict = $('#precall-verdict');
  const advice = $('#precall-advice');
  const button = $('#precall-run');
  $('#network-check').hidden = false;
  button.disabled = true;
  verdict.textContent = 'Checking…';
  verdict.parentElement.dataset.verdict = '';
  advice.textContent = 'This takes a few seconds.';
  try {
    await mediaPlan();
    const result = await runPrecallCheck({ api, visitId, iceServers: page.iceServers });
    verdict.textContent = VERDICT_LABEL[result.verdict] ?? result.verdict;
    verdict.parentElement.dataset.verdict = result.verdict;
    advice.textContent = result.advice;
  } catch (e) {
    verdict.textContent = 'Not checked';
    advice.textContent = e.status === 503
      ? 'The clinic is checking many connections right now. Try again in a moment.'
      : e.message ?? 'The check could not run. You can still continue.';
  } finally {
    button.disabled = false;
  }
}

$('#precall-run').addEventListener('click', checkNetwork);
$('#device-retry').addEventListener('click', startDevices);
$('#speaker-test').addEventListener('click', async (event) => {
  event.currentTarget.disabled = true;
  try { await playTestSound(); } finally { event.currentTarget.disabled = false; }
});
$('#device-continue').addEventListener('click', () => {
  page.stopLevel();
  page.stopLevel = () => {};
  if (page.resumeStatus === 'waiting' || page.resumeStatus === 'in_consult') {
    enterWaitingRoom();
  } else {
    showStep('consent');
  }
});

// ---- consent and intake ----

$('#consent-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const box = $('#consent');
  if (!box.checked) {
    $('#consent-error').textContent = 'Please tick the box to agree before you continue.';
    box.setAttribute('aria-invalid', 'true');
    box.focus();
    return;
  }
  box.removeAttribute('aria-invalid');
  $('#consent-error').textContent = '';
  page.consent = true;
  showStep('intake');
});

// The intake speaks the clinic's region: its spelling, its temperature unit.
function prepareIntake(clinic) {
  $('#symptom-list').replaceChildren(...symptoms(clinic).map((name, i) => h('div', { class: 'checkbox' },
    h('input', { type: 'checkbox', id: `symptom-${i}`, name: 'symptom', value: name }),
    h('label', { for: `symptom-${i}` }, name))));
  for (const el of $$('.emergency-number')) el.textContent = clinic.emergency_number;
  if (clinic.temperature_unit === 'F') {
    $('#temperature-unit').textContent = '(°F)';
    Object.assign($('#v-temperature_c'), { min: '77', max: '113' });
  }
}

function showAdvice(emergency) {
  showEmergency($('#emergency'), emergency, {
    acknowledge: () => api(`/visits/${encodeURIComponent(visitId)}/emergency/acknowledge`, { method: 'POST', body: {} }),
  });
}

function readIntake(form) {
  const symptoms = $$('input[name=symptom]:checked', form).map((el) => el.value);
  for (const line of form.other.value.split(/[\n,;]/)) {
    const text = line.trim();
    if (text && !symptoms.includes(text)) symptoms.push(text.slice(0, 200));
  }
  const vitals = {};
  for (const name of ['heart_rate', 'respiratory_rate', 'spo2', 'systolic_bp', 'temperature_c']) {
    const value = form[name].value.trim();
    if (value === '') continue;
    vitals[name] = name === 'temperature_c' && page.clinic?.temperature_unit === 'F'
      ? toCelsius(Number(value)) : Number(value);
  }
  if (form.consciousness.value) vitals.consciousness = form.consciousness.value;
  const body = { consent_to_telehealth: page.consent, symptoms: symptoms.slice(0, 20) };
  if (Object.keys(vitals).length) body.vitals = vitals;
  return body;
}

$('#intake-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('#intake-error');
  error.textContent = '';
  for (const el of $$('[aria-invalid]', form)) el.removeAttribute('aria-invalid');
  for (const input of $$('input[type=number]', form)) {
    if (!input.checkValidity()) {
      input.setAttribute('aria-invalid', 'true');
      error.textContent = `${input.labels[0].textContent.trim()}: ${input.validationMessage}`;
      form.querySelector('details').open = true;
      input.focus();
      return;
    }
  }
  const button = $('[data-testid=check-in]', form);
  button.disabled = true;
  try {
    const checkedIn = await api(`/visits/${encodeURIComponent(visitId)}/check-in`, { method: 'POST', body: readIntake(form) });
    // The advice first: it must not wait for the waiting room's socket.
    showStep('waiting');
    showAdvice(checkedIn.emergency);
    await enterWaitingRoom();
  } catch (e) {
    error.textContent = e.message;
    const field = e.field?.startsWith('vitals.') ? form[e.field.slice(7)] : null;
    if (field) {
      field.setAttribute('aria-invalid', 'true');
      form.querySelector('details').open = true;
      field.focus();
    }
    if (e.status === 409) {
      // Checked in already (another tab) or no longer open: reload the truth.
      await load();
    }
  } finally {
    button.disabled = false;
  }
});

// ---- waiting room and call ----

function showPlace(frame) {
  if (frame.position !== undefined) $('#waiting-position').textContent = String(frame.position);
  if (frame.estimated_wait_seconds !== undefined) {
    $('#waiting-estimate').textContent = frame.estimated_wait_seconds < 60
      ? 'you are next' : `about ${duration(frame.estimated_wait_seconds)}`;
  }
  document.title = frame.position ? `(${frame.position}) Waiting room — Bedside` : 'Waiting room — Bedside';
}

async function enterWaitingRoom() {
  if ($('#step-waiting').hidden) showStep('waiting');
  await mediaPlan();
  const signal = new Signal(token);
  page.signal = signal;
  signal.addEventListener('state', (e) => {
    $('#waiting-signal').textContent = e.detail === 'reconnecting' ? 'Reconnecting to the clinic… you keep your place.' : '';
  });
  signal.addEventListener('welcome', (e) => {
    // A new session (first connect, or the old one could not be resumed) joins again.
    if (!e.detail.resumed) signal.send({ type: 'join', visit_id: visitId });
  });
  signal.on('visit', onVisit);
  signal.on('joined', (f) => { startCall().rejoined(f.participants.filter((p) => p.role !== 'patient')); });
  signal.on('peer_joined', (f) => { if (f.role !== 'patient') startCall().setPeer(f); });
  signal.on('peer_left', (f) => page.call?.peerLeft(f.participant_id));
  signal.on('error', (f) => {
    if (f.code === 'forbidden' || f.code === 'not_found') {
      end('This visit cannot be joined', 'The link may have expired. Please contact the clinic.', { forget: true });
    }
  });
  // The clinic revoked or replaced the link while the page was open: the
  // socket closes and its token is refused from then on.
  signal.addEventListener('failed', linkDead);
  try {
    await signal.connect();
  } catch {
    linkDead();
  }
}

function onVisit(frame) {
  if (frame.status === 'waiting') {
    showPlace(frame);
  } else if (frame.status === 'in_consult') {
    $('#admitted').hidden = false;
    document.title = 'Your clinician is ready — Bedside';
    playTestSound().catch(() => {});
    startCall();
  } else if (frame.status === 'closed') {
    showSummary();
  } else if (ENDED[frame.status]) {
    const [title, text] = ENDED[frame.status];
    end(title, text, { forget: true });
  }
}

function startCall() {
  if (page.call) return page.call;
  const call = callFor(page.media ?? { ice_servers: page.iceServers }, {
    signal: page.signal,
    role: 'patient',
    stream: page.stream ?? new MediaStream(),
    refresh: () => api(`/visits/${encodeURIComponent(visitId)}/media`),
  });
  page.call = call;
  showStep('call');
  page.view = mountCall($('#call-root'), {
    call,
    signal: page.signal,
    remoteLabel: 'Your clinician',
    loadMessages: () => api(`/visits/${encodeURIComponent(visitId)}/messages`),
    onLeave: () => {
      page.signal?.send({ type: 'leave' });
      end('You left the call', 'Your visit is still open. If you left by mistake, rejoin now.', { rejoin: true });
    },
  });
  document.title = 'Video visit — Bedside';
  return call;
}

$('#rejoin').addEventListener('click', () => location.reload());

// ---- start ----

async function load() {
  if (!visitId || !token) {
    end('This link is incomplete', 'Open the link from your invitation again, or contact the clinic.');
    return;
  }
  let visit;
  try {
    [visit, page.clinic] = await Promise.all([api(`/visits/${encodeURIComponent(visitId)}`), clinicSettings()]);
  } catch (e) {
    if (e.status === 401 || e.status === 403 || e.status === 404) {
      linkDead();
    } else {
      end('The clinic could not be reached', 'Check your internet connection and reload this page.', { rejoin: true });
      $('#rejoin').textContent = 'Try again';
    }
    return;
  }
  if (visit.status === 'closed') {
    await showSummary();
    return;
  }
  if (ENDED[visit.status]) {
    const [title, text] = ENDED[visit.status];
    end(title, text, { forget: true });
    return;
  }
  page.resumeStatus = visit.status === 'scheduled' ? null : visit.status;
  prepareIntake(page.clinic);
  showStep('device');
  showAdvice(visit.emergency);
  // The network check is for before the consult; it runs beside the devices'.
  if (visit.status !== 'in_consult') checkNetwork();
  await startDevices();
}

load();
