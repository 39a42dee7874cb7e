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

/** First wait before asking again for a queue whose snapshot has not come. */
const SNAPSHOT_WAIT_MS = 4_000;
const SNAPSHOT_WAIT_MAX_MS = 30_000;

/**
 * Opens the staff socket and subscribes to `queueIds` on every `welcome`,
 * resumed or not: the fresh snapshot also brings what a resumed session
 * missed while it was away. A queue whose snapshot does not come (the
 * server could not answer then) is asked for again, waiting longer each
 * time, so a page never sits on a queue it was not sent. Shows the
 * socket's state in `#live`.
 */
export function liveSocket(token, queueIds) {
  const signal = new Signal(token);
  const live = $('#live');
  /** Queue id -> {loaded, attempt, timer}. */
  const watched = new Map(queueIds.map((id) => [id, { loaded: false, attempt: 0, timer: null }]));
  const subscribe = (id) => {
    const queue = watched.get(id);
    clearTimeout(queue.timer);
    queue.loaded = false;
    signal.send({ type: 'subscribe', queue_id: id });
    const wait = Math.min(SNAPSHOT_WAIT_MAX_MS, SNAPSHOT_WAIT_MS * 2 ** queue.attempt);
    queue.timer = setTimeout(() => {
      if (queue.loaded || signal.state !== 'open') return;
      queue.attempt += 1;
      subscribe(id);
    }, wait);
  };
  signal.addEventListener('state', (e) => {
    live.dataset.state = e.detail;
    live.textContent = e.detail === 'open' ? 'Live' : e.detail === 'closed' ? 'Offline' : 'Reconnecting\u2026';
  });
  signal.addEventListener('welcome', () => {
    for (const [id, queue] of watched) {
      queue.attempt = 0;
      subscribe(id);
    }
  });
  signal.on('queue', (f) => {
    const queue = watched.get(f.queue_id);
    if (!queue) return;
    queue.loaded = true;
    clearTimeout(queue.timer);
  });
  signal.watch = (id) => {
    if (watched.has(id)) return;
    watched.set(id, { loaded: false, attempt: 0, timer: null });
    subscribe(id);
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
