// The public booking page (`/book`, `/book/{clinician}`): a patient picks a
// free time, gives their details and a reason, and gets their join link.
// The form carries a signed token from the server and a hidden field;
// sending is possible once a person could have filled the form in. Days
// and times are the clinic's, with its zone named, wherever the patient is.

import { apiClient } from './lib/api.js';
import { h, $ } from './lib/dom.js';
import { formatIn, timeIn, dateIn, midnightIn } from './lib/zoned.js';

const api = apiClient(() => null);
const state = { slot: null, form: null, zones: new Map() };
const when = (iso, zone) => formatIn(iso, zone, { weekday: 'long', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const zone = () => state.zones.get($('#book-clinician').value) ?? 'UTC';

async function freshForm() {
  state.form = await api('/booking/form');
  $('#book-submit').disabled = true;
  setTimeout(() => { $('#book-submit').disabled = false; }, state.form.min_fill_seconds * 1000);
}

async function loadSlots() {
  const clinician = $('#book-clinician').value;
  const day = $('#book-date').value;
  if (!clinician || !day) return;
  const from = midnightIn(day, zone());
  const to = midnightIn(day, zone(), 1);
  state.slot = null;
  $('#book-chosen').textContent = 'No time chosen yet.';
  try {
    const slots = await api(`/booking/slots?${new URLSearchParams({ clinician_id: clinician, from: from.toISOString(), to: to.toISOString() })}`);
    $('#book-slots').replaceChildren(...(slots.length ? slots.map((slot) => h('button', {
      type: 'button', class: 'small secondary', 'aria-pressed': 'false', 'data-testid': 'book-slot', 'data-start': slot.start,
      onclick: (event) => {
        for (const b of $('#book-slots').querySelectorAll('button')) b.setAttribute('aria-pressed', 'false');
        event.currentTarget.setAttribute('aria-pressed', 'true');
        state.slot = slot;
        $('#book-chosen').textContent = `Chosen: ${when(slot.start, slot.time_zone)}.`;
      },
    }, timeIn(slot.start, slot.time_zone))) : [h('p', { class: 'empty' }, 'No free times that day. Try another day.')]));
  } catch (e) {
    $('#book-slots').replaceChildren(h('p', { class: 'empty' }, e.message));
  }
}

$('#booking-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#book-error');
  error.textContent = '';
  const v = (id) => $(id).value.trim();
  if (!state.slot) { error.textContent = 'Choose a free time first.'; return; }
  for (const [id, what] of [['#book-given', 'your given name'], ['#book-family', 'your family name'], ['#book-birth', 'your birth date'], ['#book-reason', 'the reason for the visit']]) {
    if (!v(id)) { error.textContent = `Please give ${what}.`; $(id).focus(); return; }
  }
  if (!v('#book-email') && !v('#book-phone')) { error.textContent = 'Please give an e-mail address or a phone number.'; $('#book-email').focus(); return; }
  const body = {
    form_token: state.form.form_token, website: $('#website').value,
    clinician_id: state.slot.clinician_id, start: state.slot.start,
    given_name: v('#book-given'), family_name: v('#book-family'), birth_date: v('#book-birth'), reason: v('#book-reason'),
  };
  if (v('#book-email')) body.email = v('#book-email');
  if (v('#book-phone')) body.phone = v('#book-phone');
  try {
    const booked = await api('/booking', { method: 'POST', body });
    $('#booking-form').hidden = true;
    $('#book-summary').textContent = `Your video visit with ${booked.clinician_name} is on ${when(booked.start, booked.time_zone)}.`;
    $('#book-join-link').href = booked.join_url;
    $('#book-done').hidden = false;
    $('#done-title').focus();
  } catch (e) {
    error.textContent = e.field ? `${e.field.replace('_', ' ')}: ${e.message}` : e.message;
    await freshForm();
    loadSlots();
  }
});

async function start() {
  const clinicians = await api('/booking/clinicians');
  const wanted = decodeURIComponent(location.pathname.split('/')[2] ?? '');
  const select = $('#book-clinician');
  const shown = wanted ? clinicians.filter((c) => c.id === wanted) : clinicians;
  for (const c of clinicians) state.zones.set(c.id, c.time_zone);
  select.replaceChildren(...shown.map((c) => h('option', { value: c.id }, `${c.display_name} (${c.visit_minutes} minutes)`)));
  if (!shown.length) $('#book-error').textContent = 'Online booking is not open right now. Please call the clinic.';
  $('#book-date').value = dateIn(Date.now() + 24 * 3600 * 1000, zone());
  const showZone = () => { $('#book-zone').textContent = `Times are the clinic's: ${zone().replaceAll('_', ' ')}.`; };
  showZone();
  select.addEventListener('change', showZone);
  select.addEventListener('change', loadSlots);
  $('#book-date').addEventListener('change', loadSlots);
  await freshForm();
  await loadSlots();
  document.body.dataset.ready = 'true';
}
start().catch((e) => { $('#book-error').textContent = e.message; });
