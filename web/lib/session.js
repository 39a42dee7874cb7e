// Staff sessions. The token lives in sessionStorage only (one tab, gone when
// the tab closes), expires with the server's session, and is wiped with
// everything else the tab stored on sign-out.

import { apiClient } from './api.js';

const KEY = 'bedside.session';

export function saveSession(login) {
  sessionStorage.setItem(KEY, JSON.stringify({
    token: login.token,
    user: login.user,
    expires_at: login.expires_at ?? null,
  }));
}

export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(KEY) ?? 'null');
    if (!session?.token) return null;
    if (session.expires_at && Date.parse(session.expires_at) <= Date.now()) {
      clearSession();
      return null;
    }
    return session;
  } catch {
    return null;
  }
}

export function clearSession() {
  sessionStorage.clear();
}

/** Where a role works after signing in. */
export function homeFor(role) {
  if (role === 'clinician') return '/clinician';
  if (role === 'scheduler' || role === 'admin') return '/scheduler';
  if (role === 'billing') return '/billing';
  return null;
}

function leave(reason) {
  clearSession();
  location.replace(reason ? `/?signed_out=${reason}` : '/');
}

export const staffApi = apiClient(
  () => loadSession()?.token,
  () => leave('expired'),
);

/**
 * The signed-in staff member of this page, or a redirect to sign-in.
 * Schedules the sign-out for when the session expires.
 */
export async function requireStaff(roles) {
  const session = loadSession();
  if (!session) {
    leave(null);
    return new Promise(() => {});
  }
  let user;
  try {
    user = await staffApi('/auth/me');
  } catch (error) {
    // A 401 is already on its way to sign-in; anything else is shown there too.
    if (error.status !== 401) leave(null);
    return new Promise(() => {});
  }
  if (!roles.includes(user.role)) {
    location.replace(homeFor(user.role) ?? '/');
    return new Promise(() => {});
  }
  if (session.expires_at) {
    const left = Date.parse(session.expires_at) - Date.now();
    // setTimeout's limit is about 24.8 days; sessions are far shorter.
    setTimeout(() => leave('expired'), Math.max(0, Math.min(left, 2 ** 31 - 1)));
  }
  // A page restored from the back-forward cache after sign-out shows nothing.
  addEventListener('pageshow', (event) => {
    if (event.persisted && !loadSession()) location.replace('/');
  });
  return { ...session, user };
}

export async function signOut() {
  try {
    await staffApi('/auth/logout', { method: 'POST' });
  } catch {
    // Already signed out or offline: forget the session all the same.
  }
  leave(null);
}
