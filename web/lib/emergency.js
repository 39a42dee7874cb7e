// The patient's emergency advice: a full-width alert that names the number
// to call and what to do, shown at once and again after a reload. The
// patient confirms reading it and keeps their place in the waiting room;
// the alert then shrinks to a line that still offers the call.

import { h, $ } from './dom.js';

/**
 * Shows `emergency` ({number, headline, advice, acknowledged_at}) in `root`.
 * `acknowledge` tells the clinic the patient has read it.
 */
export function showEmergency(root, emergency, { acknowledge }) {
  if (!emergency) return;
  const number = emergency.number;
  const callLink = () => h('a', { class: 'button-link danger', href: `tel:${number}`, 'data-testid': 'emergency-call' }, `Call ${number}`);
  const render = (acknowledged) => {
    root.hidden = false;
    root.className = acknowledged ? 'emergency acknowledged' : 'emergency';
    if (acknowledged) {
      root.replaceChildren(
        h('p', { class: 'emergency-title' }, `If you feel worse, call ${number} now.`),
        h('p', {}, 'You have read the emergency advice. A clinician knows and will see you first.'),
        h('div', { class: 'actions' }, callLink()));
      return;
    }
    const error = h('p', { class: 'field-error', role: 'status' });
    const button = h('button', {
      type: 'button', class: 'secondary', 'data-testid': 'emergency-acknowledge',
      onclick: async () => {
        button.disabled = true;
        try {
          await acknowledge();
          render(true);
        } catch (e) {
          error.textContent = `${e.message} The clinic has still been alerted.`;
          button.disabled = false;
        }
      },
    }, 'I have read this — keep my place');
    root.replaceChildren(
      h('p', { class: 'emergency-title', id: 'emergency-title', tabindex: '-1' }, emergency.headline),
      h('ul', { class: 'emergency-lines' }, emergency.advice.map((line) => h('li', {}, line))),
      h('div', { class: 'actions' }, callLink(), button),
      error);
    $('#emergency-title', root).focus();
    root.scrollIntoView({ block: 'start' });
  };
  render(Boolean(emergency.acknowledged_at));
}
