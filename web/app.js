// Staff sign-in, its two-step (TOTP) code, and setting up two-step sign-in.
// The session lives in this tab's sessionStorage only; after sign-in each
// role goes to where it works. `/?account` is a signed-in staff member's
// own page, where they set up two-step sign-in.

import { apiClient } from './lib/api.js';
import { saveSession, loadSession, clearSession, homeFor, signOut } from './lib/session.js';

// No redirect on 401 here: a wrong password is an answer, not an expired session.
const api = apiClient(() => loadSession()?.token);

const $ = (id) => document.getElementById(id);
const form = $('sign-in-form');
const message = $('message');
const mfaForm = $('mfa-form');
const enrol = $('enrol');
const signedIn = $('signed-in');
const params = new URLSearchParams(location.search);
const accountPage = params.has('account');

/** The sign-in waiting for a code or an enrolment: its challenge. */
let challenge = null;

function only(section) {
  for (const el of [form, mfaForm, enrol, signedIn]) el.hidden = el !== section;
}

function show(user) {
  only(user ? signedIn : form);
  if (user) {
    $('who').textContent = user.display_name;
    $('role').textContent = user.role;
    const home = homeFor(user.role);
    $('no-console').hidden = Boolean(home);
    $('home-link').hidden = !home;
    if (home) $('home-link').href = home;
  }
}

function goHome(user) {
  const home = homeFor(user.role);
  if (home && !accountPage) location.assign(home);
  else show(user);
}

function signedInWith(login) {
  clearSession();
  saveSession(login);
  challenge = null;
  goHome(login.user);
}

const reason = params.get('signed_out');
if (reason === 'expired') message.textContent = 'Your session has ended. Please sign in again.';
if (reason) history.replaceState(null, '', '/');

async function busy(button, work) {
  button.disabled = true;
  try {
    await work();
  } finally {
    button.disabled = false;
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  message.textContent = '';
  busy(form.querySelector('button[type=submit]'), async () => {
    try {
      const login = await api('/auth/login', {
        method: 'POST',
        body: { username: form.username.value.trim(), password: form.password.value },
      });
      form.reset();
      signedInWith(login);
    } catch (error) {
      if (error.code === 'mfa_required') {
        challenge = error.challenge;
        form.reset();
        only(mfaForm);
        $('mfa-code').focus();
      } else if (error.code === 'mfa_enrolment_required') {
        challenge = error.challenge;
        form.reset();
        $('enrol-why').textContent = 'Your role requires two-step sign-in. Set it up now to finish signing in.';
        startEnrolment();
      } else {
        message.textContent = error.status === 401 ? 'The username or password is not right.' : error.message;
        form.password.focus();
      }
    }
  });
});

mfaForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const note = $('mfa-message');
  note.textContent = '';
  busy(mfaForm.querySelector('button[type=submit]'), async () => {
    try {
      const login = await api('/auth/login/mfa', {
        method: 'POST',
        body: { challenge, code: $('mfa-code').value.trim() },
      });
      mfaForm.reset();
      signedInWith(login);
    } catch (error) {
      note.textContent = error.message;
      $('mfa-code').select();
      $('mfa-code').focus();
    }
  });
});

async function startEnrolment() {
  only(enrol);
  $('enrol-message').textContent = '';
  $('recovery').hidden = true;
  try {
    const started = await api('/auth/mfa/enrolment', {
      method: 'POST',
      body: challenge ? { challenge } : {},
    });
    $('mfa-qr').src = started.qr_code;
    $('mfa-secret').textContent = started.secret.replace(/(.{4})/g, '$1 ').trim();
    $('enrol-steps').hidden = false;
    $('enrol-code').focus();
  } catch (error) {
    $('enrol-steps').hidden = true;
    $('enrol-message').textContent = error.status === 409
      ? 'Two-step sign-in is already on for your account.'
      : error.message;
  }
}

/** What to do once the recovery codes have been kept. */
let afterRecovery = () => {};

$('enrol-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const note = $('enrol-message');
  note.textContent = '';
  busy($('enrol-form').querySelector('button[type=submit]'), async () => {
    try {
      const done = await api('/auth/mfa/enrolment/confirm', {
        method: 'POST',
        body: challenge ? { challenge, code: $('enrol-code').value.trim() } : { code: $('enrol-code').value.trim() },
      });
      $('enrol-steps').hidden = true;
      $('mfa-qr').removeAttribute('src');
      $('mfa-secret').textContent = '';
      const list = $('recovery-codes');
      list.replaceChildren(...done.recovery_codes.map((code) => {
        const li = document.createElement('li');
        li.textContent = code;
        return li;
      }));
      $('recovery').hidden = false;
      note.textContent = 'Two-step sign-in is on.';
      afterRecovery = done.session
        ? () => signedInWith(done.session)
        : () => { show(loadSession()?.user); $('mfa-setup').hidden = true; };
      $('recovery-done').focus();
    } catch (error) {
      note.textContent = error.message;
      $('enrol-code').select();
      $('enrol-code').focus();
    }
  });
});

$('recovery-done').addEventListener('click', () => {
  $('recovery-codes').replaceChildren();
  afterRecovery();
});
$('mfa-setup').addEventListener('click', () => {
  challenge = null;
  startEnrolment();
});
$('sign-out').addEventListener('click', signOut);

if (loadSession()) {
  api('/auth/me').then(goHome, () => { clearSession(); show(null); });
} else if (accountPage) {
  history.replaceState(null, '', '/');
}
