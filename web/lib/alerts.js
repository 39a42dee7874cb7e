// The console's emergency alerts: one per waiting patient whose check-in
// found an emergency, kept until the patient is admitted or the clinician
// dismisses it. A new alert sounds (unless the clinician turned sound off)
// and repeats while any alert stands.

import { h, clock } from './dom.js';

const SOUND_KEY = 'bedside.alert-sound';
const DISMISSED_KEY = 'bedside.alerts-dismissed';
/** How often the sound repeats while an alert is not dismissed. */
const REPEAT_MS = 30_000;

function chime() {
  const Context = window.AudioContext ?? window.webkitAudioContext;
  if (!Context) return;
  const context = new Context();
  const start = context.currentTime;
  // Three rising tones: distinct from the patient's admission chime.
  [660, 880, 1100].forEach((frequency, i) => {
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, start + i * 0.25);
    gain.gain.exponentialRampToValueAtTime(0.3, start + i * 0.25 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + i * 0.25 + 0.22);
    tone.connect(gain).connect(context.destination);
    tone.start(start + i * 0.25);
    tone.stop(start + i * 0.25 + 0.24);
  });
  setTimeout(() => context.close().catch(() => {}), 1_200);
}

/**
 * Mounts the alerts in `root`; `soundToggle` is the checkbox that turns the
 * sound on and off. `admit(visitId)` admits the patient; `canAdmit(entry)`
 * says whether this clinician may now.
 */
export function mountAlerts(root, soundToggle, { admit, canAdmit }) {
  const dismissed = new Set(JSON.parse(sessionStorage.getItem(DISMISSED_KEY) ?? '[]'));
  const shown = new Map(); // visit id -> element
  let repeat = null;
  soundToggle.checked = localStorage.getItem(SOUND_KEY) !== 'off';
  soundToggle.addEventListener('change', () => {
    localStorage.setItem(SOUND_KEY, soundToggle.checked ? 'on' : 'off');
  });
  const sound = () => { if (soundToggle.checked) chime(); };

  function dismiss(visitId) {
    dismissed.add(visitId);
    sessionStorage.setItem(DISMISSED_KEY, JSON.stringify([...dismissed]));
    shown.get(visitId)?.remove();
    shown.delete(visitId);
    if (shown.size === 0) { clearInterval(repeat); repeat = null; }
  }

  function details(entry) {
    const e = entry.emergency;
    return [
      h('p', { class: 'alert-title' }, `Emergency: ${entry.patient_name}`, e.findings.length ? ` — ${e.findings.join('; ')}` : ''),
      h('p', { class: 'meta' },
        e.acknowledged_at ? 'The patient has read the emergency advice.' : 'The patient has not yet confirmed reading the emergency advice.',
        entry.waiting_since ? ` Checked in at ${clock(entry.waiting_since)}.` : ''),
      h('div', { class: 'actions' },
        h('button', {
          type: 'button', class: 'danger small', disabled: !canAdmit(entry),
          onclick: () => admit(entry.visit_id),
        }, `Admit ${entry.patient_name} now`),
        h('button', { type: 'button', class: 'secondary small', onclick: () => dismiss(entry.visit_id) }, 'Dismiss alert')),
    ];
  }

  /** Shows an alert for each waiting emergency among `entries` (every queue's). */
  function update(entries) {
    const active = entries.filter((e) => e.emergency && e.status === 'waiting' && !dismissed.has(e.visit_id));
    const ids = new Set(active.map((e) => e.visit_id));
    for (const [id, el] of shown) if (!ids.has(id)) { el.remove(); shown.delete(id); }
    let fresh = false;
    for (const entry of active) {
      const el = shown.get(entry.visit_id);
      // Re-render only on a change, so screen readers do not hear it again.
      const key = JSON.stringify([entry.patient_name, entry.emergency, entry.waiting_since, canAdmit(entry)]);
      if (el) {
        if (el.dataset.key !== key) {
          el.dataset.key = key;
          el.replaceChildren(...details(entry));
        }
        continue;
      }
      // A new element with role=alert is announced once by screen readers.
      const alert = h('div', {
        class: 'alert-emergency', role: 'alert', 'data-testid': `emergency-alert-${entry.visit_id}`, dataset: { key },
      }, details(entry));
      shown.set(entry.visit_id, alert);
      root.append(alert);
      fresh = true;
    }
    if (fresh) sound();
    if (shown.size > 0 && !repeat) repeat = setInterval(sound, REPEAT_MS);
    if (shown.size === 0 && repeat) { clearInterval(repeat); repeat = null; }
  }

  return { update };
}
