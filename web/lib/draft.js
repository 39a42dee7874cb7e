// The note as it is typed, saved on the server a moment after each change
// (and at once when the page is hidden), so a reload, a sign-out or
// another device loses nothing.

import { clock } from './dom.js';

const SAVE_AFTER_MS = 800;

/** The form's fields as the draft API takes them. */
function fieldsOf(form) {
  return {
    subjective: form.subjective.value,
    objective: form.objective.value,
    assessment: form.assessment.value,
    plan: form.plan.value,
    diagnoses: form.diagnoses.value,
    total_minutes: form.minutes.value,
    patient_location: form.location.value || null,
    audio_only: form.audio_only.checked,
  };
}

function fill(form, draft) {
  for (const name of ['subjective', 'objective', 'assessment', 'plan', 'diagnoses']) form[name].value = draft[name] ?? '';
  form.minutes.value = draft.total_minutes ?? '';
  if (draft.patient_location) form.location.value = draft.patient_location;
  form.audio_only.checked = Boolean(draft.audio_only);
}

/**
 * Keeps `form`'s draft for the visit at `path` (`/visits/{id}/draft`);
 * `status` shows when it was last saved. Returns `{ restore, flush, stop }`.
 */
export function keepDraft(form, { api, path, status }) {
  let timer = null;
  let stopped = false;
  let saving = Promise.resolve();

  async function save() {
    clearTimeout(timer);
    timer = null;
    if (stopped) return;
    const body = fieldsOf(form);
    saving = saving.then(async () => {
      try {
        const saved = await api(path, { method: 'PUT', body });
        if (!stopped) status.textContent = `Draft saved at ${clock(saved.updated_at)}.`;
      } catch (e) {
        if (!stopped) status.textContent = `The draft could not be saved: ${e.message} It will be tried again as you type.`;
      }
    });
    await saving;
  }

  const schedule = () => {
    if (stopped) return;
    status.textContent = 'Saving draft…';
    clearTimeout(timer);
    timer = setTimeout(save, SAVE_AFTER_MS);
  };
  const onHide = () => { if (timer) save(); };
  form.addEventListener('input', schedule);
  form.addEventListener('change', schedule);
  document.addEventListener('visibilitychange', onHide);

  return {
    /** Fills the form from the saved draft, if there is one; true if so. */
    async restore() {
      try {
        const draft = await api(path);
        if (stopped) return false;
        fill(form, draft);
        status.textContent = `Draft restored, last saved at ${clock(draft.updated_at)}.`;
        return true;
      } catch (e) {
        if (e.status !== 404) status.textContent = `The saved draft could not be loaded: ${e.message}`;
        return false;
      }
    },
    /** Saves now if a change is waiting. */
    flush: () => (timer ? save() : saving),
    stop() {
      stopped = true;
      clearTimeout(timer);
      form.removeEventListener('input', schedule);
      form.removeEventListener('change', schedule);
      document.removeEventListener('visibilitychange', onHide);
      status.textContent = '';
    },
  };
}
