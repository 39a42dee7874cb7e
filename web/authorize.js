// The sign-in and consent page of a standalone SMART launch: shows which
// app asks for what, lets a staff member (signed in, or signing in here)
// or a patient (with their visit link) allow or deny it, then sends the
// browser back to the app. The server checks the request again on answer.

import { apiClient } from './lib/api.js';
import { loadSession, saveSession } from './lib/session.js';

const $ = (id) => document.getElementById(id);
const query = location.search.replace(/^\?/, '');
const request = Object.fromEntries(new URLSearchParams(query));
let token = loadSession()?.token ?? null;
let needsPatient = false;
let isStaff = Boolean(token);
const api = apiClient(() => token);

const SCOPE_WORDS = {
  openid: 'know who you are',
  fhirUser: 'know who you are',
  launch: 'open in the chart it was launched from',
  'launch/patient': 'work with one patient\'s record',
  offline_access: 'keep access while you are away',
  online_access: 'keep access while you are signed in',
};

function describe(scope) {
  if (SCOPE_WORDS[scope]) return SCOPE_WORDS[scope];
  const match = /^(patient|user|system)\/([A-Za-z*]+)\.([cruds]+)$/.exec(scope);
  if (!match) return scope;
  const [, level, type, letters] = match;
  const verbs = [];
  if (letters.includes('r') || letters.includes('s')) verbs.push('read');
  if (/[cud]/.test(letters)) verbs.push('change');
  const what = type === '*' ? 'all record data' : type;
  const whose = level === 'patient' ? 'of the patient' : 'you can see';
  return `${verbs.join(' and ')} ${what} ${whose} (${scope})`;
}

function say(text) {
  $('message').textContent = text ?? '';
}

function showDecision(who) {
  $('staff-form').hidden = true;
  $('patient-form').hidden = true;
  $('decision-form').hidden = false;
  $('who').textContent = who;
  $('patient-choice').hidden = !(needsPatient && isStaff);
}

async function load() {
  const response = await fetch(`/oauth/authorize/details?${query}`, { credentials: 'omit', cache: 'no-store' });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    $('problem').textContent = `This app cannot be authorized: ${body.error_description ?? 'the request is not valid'}.`;
    return;
  }
  needsPatient = body.needs_patient;
  $('app-name').textContent = body.app_name;
  $('scopes').replaceChildren(...[...new Set(body.scopes.map(describe))].map((text) => {
    const li = document.createElement('li');
    li.textContent = text;
    return li;
  }));
  $('request').hidden = false;
  const session = loadSession();
  if (session) {
    showDecision(`Signed in as ${session.user.display_name}.`);
  } else {
    $('staff-form').hidden = false;
    $('patient-form').hidden = false;
  }
}

$('staff-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  say('');
  try {
    const login = await api('/auth/login', {
      method: 'POST',
      body: { username: $('username').value, password: $('password').value },
    });
    saveSession(login);
    token = login.token;
    isStaff = true;
    showDecision(`Signed in as ${login.user.display_name}.`);
  } catch (e) {
    say(e.message);
  }
});

$('patient-form').addEventListener('submit', (event) => {
  event.preventDefault();
  say('');
  try {
    const link = new URL($('visit-link').value);
    const visitToken = link.searchParams.get('t');
    if (!visitToken) throw new Error('no token');
    token = visitToken;
    isStaff = false;
    showDecision('Signed in with your visit link.');
  } catch {
    say('That is not a visit link. Paste the whole link from your invitation.');
  }
});

let searchTimer = null;
$('patient-name').addEventListener('input', () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(async () => {
    const name = $('patient-name').value.trim();
    if (name.length < 2) return;
    const patients = await api(`/patients?name=${encodeURIComponent(name)}`).catch(() => []);
    $('patient-id').replaceChildren(...patients.map((p) => {
      const option = document.createElement('option');
      option.value = p.id;
      option.textContent = `${p.given_name} ${p.family_name} (${p.birth_date})`;
      return option;
    }));
  }, 250);
});

async function answer(approve) {
  say('');
  const body = { request, approve };
  if (approve && needsPatient && isStaff) {
    if (!$('patient-id').value) {
      say('Choose the patient this app will see.');
      return;
    }
    body.patient_id = $('patient-id').value;
  }
  const response = await fetch('/oauth/authorize/decision', {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    credentials: 'omit',
    cache: 'no-store',
  }).catch(() => null);
  const answered = await response?.json().catch(() => null);
  if (response?.ok && answered?.redirect_to) {
    location.assign(answered.redirect_to);
  } else {
    say(answered?.detail ?? 'The answer could not be sent. Try again.');
  }
}

$('decision-form').addEventListener('submit', (event) => {
  event.preventDefault();
  answer(true);
});
$('deny').addEventListener('click', () => answer(false));

load();
