// What the patient's page and a guest's page share: the visit link's token,
// moved out of the address bar (and so out of history and any referrer)
// into this tab's storage, and which step of the page is on screen.

import { $, $$, focusStep } from './dom.js';

/**
 * The visit and token of a `/<page>/{visit_id}?t=…` link; the token rides
 * in the link only once.
 * @param {string} kind  `patient` or `guest`: the storage key's namespace
 */
export function visitLink(kind) {
  const visitId = decodeURIComponent(location.pathname.split('/')[2] ?? '');
  const key = `bedside.${kind}.${visitId}`;
  const url = new URL(location.href);
  const fromLink = url.searchParams.get('t');
  if (fromLink) {
    sessionStorage.setItem(key, fromLink);
    url.searchParams.delete('t');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return {
    visitId,
    token: sessionStorage.getItem(key),
    forget: () => sessionStorage.removeItem(key),
  };
}

/** Shows the `step-<name>` section alone, with the page's one `call-state`, and moves focus to it. */
export function showSection(name) {
  for (const section of $$('main > section')) section.hidden = section.id !== `step-${name}`;
  for (const slot of $$('.state-slot')) {
    if (slot.closest('section').id === `step-${name}`) slot.setAttribute('data-testid', 'call-state');
    else slot.removeAttribute('data-testid');
  }
  focusStep($(`#step-${name} h1`));
}
