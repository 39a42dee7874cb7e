// The admin console: staff accounts (add, role, deactivate, new password,
// last sign-in), the audit log with filters and the chain check, and the
// clinic's settings patients see.

import { loadSession, staffApi as api, homeFor } from './lib/session.js';
import { h, $ } from './lib/dom.js';
import { mountHeader } from './lib/staff.js';
import { mountOperations } from './lib/operations.js';

const ROLES = ['admin', 'scheduler', 'clinician', 'billing'];
const PAGE_SIZE = 25;

function when(timestamp) {
  return timestamp ? new Date(timestamp).toLocaleString() : 'never';
}

async function me() {
  if (!loadSession()) {
    location.replace('/');
    return new Promise(() => {});
  }
  try {
    return await api('/auth/me');
  } catch {
    return new Promise(() => {});
  }
}

const user = await me();
mountHeader(user);
if (user.role !== 'admin') {
  $('#admin-only').hidden = false;
  $('#home-link').href = homeFor(user.role) ?? '/';
} else {
  $('#console').hidden = false;
  start();
}

function start() {
  loadUsers();
  searchAudit(1);
  loadClinic();
  mountOperations($('#operations'), api);
  loadApps();
}

// -- Staff -------------------------------------------------------------

let accounts = [];

async function loadUsers() {
  try {
    accounts = await api('/users/accounts');
  } catch (error) {
    $('#users-message').textContent = error.message;
    return;
  }
  $('#users').replaceChildren(...accounts.map(row));
  const filter = $('#audit-user');
  const chosen = filter.value;
  filter.replaceChildren(h('option', { value: '' }, 'Anyone'),
    ...accounts.map((a) => h('option', { value: a.id }, `${a.display_name} (${a.username})`)));
  filter.value = chosen;
}

function say(text) {
  $('#users-message').textContent = text;
}

async function act(work, done) {
  try {
    await work();
    say(done);
    await loadUsers();
  } catch (error) {
    say(error.message);
  }
}

function row(account) {
  const name = account.username;
  const roleSelect = h('select', {
    'aria-label': `Role of ${name}`, 'data-testid': 'user-role', disabled: !account.active || account.id === user.id,
  }, ROLES.map((r) => h('option', { value: r, selected: r === account.role }, r)));
  roleSelect.addEventListener('change', () => {
    const body = { role: roleSelect.value };
    if (roleSelect.value === 'clinician' && !account.npi) {
      const npi = prompt(`A clinician needs an NPI. NPI of ${account.display_name}:`);
      if (!npi) { roleSelect.value = account.role; return; }
      body.npi = npi.trim();
    }
    act(() => api(`/users/${account.id}`, { method: 'PATCH', body }), `${name} is now ${roleSelect.value}.`);
  });
  const actions = h('div', { class: 'row-actions' });
  if (account.active && account.id !== user.id) {
    actions.append(
      h('button', {
        type: 'button', class: 'secondary small', 'data-testid': 'user-reset-password',
        'aria-label': `Set a new password for ${name}`,
        onclick: () => {
          const password = prompt(`New password for ${account.display_name} (at least 8 characters). Tell them; their sessions end now.`);
          if (!password) return;
          act(() => api(`/users/${account.id}/password`, { method: 'POST', body: { password } }),
            `${name} has a new password; their sessions have ended.`);
        },
      }, 'New password'),
      h('button', {
        type: 'button', class: 'secondary small', 'data-testid': 'user-deactivate',
        'aria-label': `Deactivate ${name}`,
        onclick: () => {
          if (!confirm(`Deactivate ${account.display_name}? They are signed out now and cannot sign in.`)) return;
          act(() => api(`/users/${account.id}/deactivate`, { method: 'POST' }), `${name} is deactivated.`);
        },
      }, 'Deactivate'),
    );
  }
  return h('tr', { 'data-testid': 'user-row', dataset: { username: name } },
    h('td', {}, h('strong', {}, account.display_name), h('br'), name, account.npi ? ` · NPI ${account.npi}` : ''),
    h('td', {}, roleSelect),
    h('td', { 'data-testid': 'user-status' }, account.active ? 'Active' : 'Deactivated',
      account.mfa_enrolled ? ' · two-step on' : ''),
    h('td', { 'data-testid': 'user-last-sign-in' }, when(account.last_sign_in_at)),
    h('td', {}, actions));
}

$('#add-user-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  const body = {
    username: $('#new-username').value.trim(),
    display_name: $('#new-display-name').value.trim(),
    role: $('#new-role').value,
    password: $('#new-password').value,
  };
  if ($('#new-npi').value.trim()) body.npi = $('#new-npi').value.trim();
  try {
    await api('/users', { method: 'POST', body });
    form.reset();
    say(`${body.username} is added. Tell them their initial password.`);
    await loadUsers();
  } catch (error) {
    say(error.field ? `${error.field.replace('_', ' ')}: ${error.message}` : error.message);
    const field = error.field && form.elements.namedItem(error.field);
    if (field) field.focus();
  }
});

// -- Audit log -----------------------------------------------------------

let page = 1;
let total = 0;

async function searchAudit(wanted) {
  const form = $('#audit-form');
  const query = new URLSearchParams();
  for (const name of ['patient_id', 'user_id', 'action', 'from', 'to']) {
    const value = form.elements.namedItem(name).value.trim();
    if (value) query.set(name, value);
  }
  query.set('page', String(wanted));
  query.set('page_size', String(PAGE_SIZE));
  const message = $('#audit-message');
  message.textContent = '';
  // Read directly: the total is in a header.
  const response = await fetch(`/api/v1/audit?${query}`, {
    headers: { accept: 'application/json', authorization: `Bearer ${loadSession()?.token}` },
    cache: 'no-store',
  });
  if (!response.ok) {
    const problem = await response.json().catch(() => null);
    message.textContent = problem?.field ? `${problem.field.replace('_', ' ')}: ${problem.detail}` : (problem?.detail ?? 'The audit log could not be read.');
    return;
  }
  const events = await response.json();
  page = wanted;
  total = Number(response.headers.get('x-total-count') ?? events.length);
  const names = new Map(accounts.map((a) => [a.id, a.username]));
  $('#audit-rows').replaceChildren(...events.map((e) => h('tr', { 'data-testid': 'audit-row' },
    h('td', {}, String(e.seq)),
    h('td', {}, new Date(e.at).toLocaleString()),
    h('td', {}, `${names.get(e.actor_id) ?? e.actor_id ?? e.actor_type} (${e.actor_role ?? e.actor_type})`),
    h('td', {}, e.action),
    h('td', {}, `${e.resource_type}${e.resource_id ? ` ${e.resource_id}` : ''}${e.patient_id ? ` · patient ${e.patient_id}` : ''}`),
    h('td', {}, e.outcome))));
  const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
  $('#audit-page').textContent = `Page ${page} of ${pages} · ${total} events`;
  $('#audit-prev').disabled = page <= 1;
  $('#audit-next').disabled = page >= pages;
}

$('#audit-form').addEventListener('submit', (event) => {
  event.preventDefault();
  searchAudit(1);
});
$('#audit-prev').addEventListener('click', () => searchAudit(page - 1));
$('#audit-next').addEventListener('click', () => searchAudit(page + 1));

$('#audit-verify').addEventListener('click', async () => {
  const result = $('#chain-result');
  result.textContent = 'Checking…';
  try {
    const report = await api('/audit/verify');
    if (report.valid) {
      result.className = 'chain-ok';
      result.textContent = `The trail is intact: ${report.events_checked} events.`;
    } else {
      result.className = 'chain-broken';
      result.textContent = `The trail is broken at event ${report.first_broken_seq}: it or an event before it was changed or removed (${report.events_checked} events before it check out).`;
    }
  } catch (error) {
    result.textContent = error.message;
  }
});

// -- Clinic --------------------------------------------------------------

async function loadClinic() {
  try {
    const clinic = await api('/clinic/settings');
    $('#clinic-name').value = clinic.name ?? '';
    $('#clinic-region').value = clinic.region ?? 'US';
    $('#clinic-phone').value = clinic.contact_phone ?? '';
    $('#clinic-email').value = clinic.contact_email ?? '';
  } catch (error) {
    $('#clinic-message').textContent = error.message;
  }
}

$('#clinic-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = {
    name: $('#clinic-name').value.trim() || null,
    region: $('#clinic-region').value,
    contact_phone: $('#clinic-phone').value.trim() || null,
    contact_email: $('#clinic-email').value.trim() || null,
  };
  try {
    await api('/clinic/settings', { method: 'PUT', body });
    $('#clinic-message').textContent = 'Saved. Patients see the new details now.';
  } catch (error) {
    $('#clinic-message').textContent = error.field ? `${error.field.replace('_', ' ')}: ${error.message}` : error.message;
  }
});

// -- SMART apps ------------------------------------------------------------

async function loadApps() {
  try {
    const apps = await api('/smart/apps');
    $('#apps').replaceChildren(...apps.map((app) => h('tr', { 'data-testid': 'app-row', 'data-client-id': app.client_id },
      h('th', { scope: 'row' }, app.name),
      h('td', {}, h('code', {}, app.client_id)),
      h('td', {}, app.client_type),
      h('td', {}, app.scopes),
      h('td', {}, app.active ? 'active' : 'revoked'),
      h('td', {}, app.active ? h('button', {
        type: 'button', class: 'secondary small', 'data-testid': 'app-revoke',
        onclick: () => revokeApp(app),
      }, `Revoke ${app.name}`) : ''))));
  } catch (error) {
    $('#apps-message').textContent = error.message;
  }
}

async function revokeApp(app) {
  try {
    await api(`/smart/apps/${encodeURIComponent(app.client_id)}/revoke`, { method: 'POST' });
    $('#apps-message').textContent = `${app.name} is revoked; its tokens no longer work.`;
    await loadApps();
  } catch (error) {
    $('#apps-message').textContent = error.message;
  }
}

$('#app-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const message = $('#apps-message');
  let jwks;
  if ($('#app-jwks').value.trim()) {
    try {
      jwks = JSON.parse($('#app-jwks').value);
    } catch {
      message.textContent = 'jwks: is not valid JSON';
      return;
    }
  }
  const body = {
    name: $('#app-name').value.trim(),
    launch_url: $('#app-launch-url').value.trim() || undefined,
    redirect_uris: $('#app-redirects').value.split('\n').map((u) => u.trim()).filter(Boolean),
    client_type: $('#app-type').value,
    scopes: $('#app-scopes').value.trim(),
    jwks,
  };
  try {
    const app = await api('/smart/apps', { method: 'POST', body });
    message.textContent = app.client_secret
      ? `Registered. Client id ${app.client_id}; client secret (shown once) ${app.client_secret}`
      : `Registered. Client id ${app.client_id}`;
    $('#app-form').reset();
    await loadApps();
  } catch (error) {
    message.textContent = error.field ? `${error.field}: ${error.message}` : error.message;
  }
});
