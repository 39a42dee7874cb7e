// Staff sign-in. The session lives in this tab's sessionStorage only; after
// sign-in each role goes to where it works.

import { apiClient } from './lib/api.js';
import { saveSession, loadSession, clearSession, homeFor, signOut } from './lib/session.js';

// No redirect on 401 here: a wrong password is an answer, not an expired session.
const api = apiClient(() => loadSession()?.token);

const form = document.getElementById('sign-in-form');
const message = document.getElementById('message');
const signedIn = document.getElementById('signed-in');

function show(user) {
  form.hidden = Boolean(user);
  signedIn.hidden = !user;
  if (user) {
    document.getElementById('who').textContent = user.display_name;
    document.getElementById('role').textContent = user.role;
  }
}

function goHome(user) {
  const home = homeFor(user.role);
  if (home) location.assign(home);
  else show(user);
}

const reason = new URLSearchParams(location.search).get('signed_out');
if (reason === 'expired') message.textContent = 'Your session has ended. Please sign in again.';
if (reason) history.replaceState(null, '', '/');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  message.textContent = '';
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const login = await api('/auth/login', {
      method: 'POST',
      body: { username: form.username.value.trim(), password: form.password.value },
    });
    clearSession();
    saveSession(login);
    form.reset();
    goHome(login.user);
  } catch (error) {
    message.textContent = error.status === 401 ? 'The username or password is not right.' : error.message;
    form.password.focus();
  } finally {
    button.disabled = false;
  }
});

document.getElementById('sign-out').addEventListener('click', signOut);

if (loadSession()) {
  api('/auth/me').then(goHome, () => { clearSession(); show(null); });
}
