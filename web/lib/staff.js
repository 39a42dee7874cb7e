// What the clinician console and the scheduler board share: the signed-in
// header, and a staff socket that watches queues and presence live.

import { $ } from './dom.js';
import { Signal } from './socket.js';
import { signOut } from './session.js';

export function mountHeader(user) {
  $('#who').textContent = `${user.display_name} (${user.role})`;
  // The staff member's own page (two-step sign-in), and the admin console.
  const tools = $('#sign-out').parentElement;
  const links = [['/?account', 'Your account', 'account-link']];
  if (user.role === 'admin' && location.pathname !== '/admin') links.push(['/admin', 'Admin', 'admin-link']);
  for (const [href, text, testid] of links) {
    const a = document.createElement('a');
    a.href = href;
    a.textContent = text;
    a.className = 'topbar-link';
    a.dataset.testid = testid;
    tools.insertBefore(a, $('#sign-out'));
  }
  $('#sign-out').addEventListener('click', signOut);
}

/**
 * Opens the staff socket and subscribes to `queueIds` (again after any new
 * session). Shows the socket's state in `#live`.
 */
export function liveSocket(token, queueIds) {
  const signal = new Signal(token);
  const live = $('#live');
  const watched = new Set(queueIds);
  signal.addEventListener('state', (e) => {
    live.dataset.state = e.detail;
    live.textContent = e.detail === 'open' ? 'Live' : e.detail === 'closed' ? 'Offline' : 'Reconnecting\u2026';
  });
  signal.addEventListener('welcome', (e) => {
    if (!e.detail.resumed) for (const id of watched) signal.send({ type: 'subscribe', queue_id: id });
  });
  signal.watch = (id) => {
    if (watched.has(id)) return;
    watched.add(id);
    signal.send({ type: 'subscribe', queue_id: id });
  };
  return signal;
}

export const PRESENCE_LABEL = {
  available: 'Available', busy: 'Busy', in_consult: 'In consult', away: 'Away', offline: 'Offline',
};
export const PRIORITY_LABEL = { emergent: 'Emergent', urgent: 'Urgent', routine: 'Routine' };
/** The patient's pre-call network verdict. */
export const NETWORK_LABEL = { good: 'good', fair: 'fair', poor: 'weak', failed: 'not connected' };
export const STATUS_LABEL = {
  scheduled: 'Scheduled', waiting: 'Waiting', in_consult: 'In consult', closed: 'Closed', cancelled: 'Cancelled', no_show: 'No-show',
};
