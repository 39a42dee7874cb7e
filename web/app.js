// Staff sign-in: the token lives in sessionStorage only, and is dropped on sign-out.
const form = document.getElementById('sign-in-form');
const message = document.getElementById('message');
const signedIn = document.getElementById('signed-in');

async function api(path, options = {}) {
  const token = sessionStorage.getItem('bedside.token');
  const headers = { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  const response = await fetch(`/api/v1${path}`, { ...options, headers });
  if (!response.ok) {
    const problem = await response.json().catch(() => ({}));
    throw new Error(problem.detail || `request failed (${response.status})`);
  }
  return response.status === 204 ? null : response.json();
}

function show(user) {
  form.hidden = Boolean(user);
  signedIn.hidden = !user;
  if (user) {
    document.getElementById('who').textContent = user.display_name;
    document.getElementById('role').textContent = user.role;
  }
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  message.textContent = '';
  try {
    const { token, user } = await api('/auth/login', {
      method: 'POST',
      body: JSON.stringify({ username: form.username.value, password: form.password.value }),
    });
    sessionStorage.setItem('bedside.token', token);
    form.reset();
    show(user);
  } catch (error) {
    message.textContent = error.message;
  }
});

document.getElementById('sign-out').addEventListener('click', async () => {
  try { await api('/auth/logout', { method: 'POST' }); } catch { /* already signed out */ }
  sessionStorage.clear();
  show(null);
});

if (sessionStorage.getItem('bedside.token')) {
  api('/auth/me').then(show, () => { sessionStorage.clear(); show(null); });
}
