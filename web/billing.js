// The billing console: the claims work queue with counts and filters; a
// claim's page (lines, diagnoses, history) where a biller fixes and
// releases it, records the payer's answer, resubmits a corrected claim or
// voids it; 837P batches; 835 uploads and what they held; a patient's
// printable statement; and the aging report.

import { loadSession, staffApi as api } from './lib/session.js';
import { h, $, date } from './lib/dom.js';
import { mountHeader } from './lib/staff.js';
import { ApiError } from './lib/api.js';
import { attachCodeSearch } from './lib/codesearch.js';
import { acknowledgementResult, claimPayerPanel } from './lib/payer.js';

const STATUS_LABEL = {
  needs_review: 'Needs review', ready: 'Ready', submitted: 'Submitted', accepted: 'Accepted',
  rejected: 'Rejected', paid: 'Paid', denied: 'Denied',
};
const KIND_LABEL = { charge: 'Charge', insurer_payment: 'Insurer payment', adjustment: 'Adjustment', patient_payment: 'Patient payment' };
const PAGE = 25;

const money = (cents) => `${cents < 0 ? '-' : ''}$${(Math.abs(cents) / 100).toFixed(2)}`;
const list = (text) => text.split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);

const state = { offset: 0, total: 0, claim: null, diagnoses: [] };

function toast(text) {
  const el = $('#toast');
  el.textContent = text;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.textContent = ''; }, 6000);
}

/** A request whose answer is text (an 837P), or that sends text (an 835). */
async function raw(path, { method = 'GET', body } = {}) {
  const headers = { authorization: `Bearer ${loadSession()?.token ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'text/plain';
  let response;
  try {
    response = await fetch(`/api/v1${path}`, { method, headers, body, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiError(0, { detail: 'The server could not be reached. Check your connection and try again.' });
  }
  if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
  return response;
}

function download(text, name) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

// ---- work queue ----

function filterParams() {
  const form = $('#filters');
  const params = new URLSearchParams();
  for (const name of ['status', 'payer_id', 'from', 'to', 'patient']) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

async function loadQueue() {
  const params = filterParams();
  $('#queue-error').textContent = '';
  try {
    const counts = await api(`/claims/counts?${params}`);
    $('#counts').replaceChildren(...counts.map((c) => h('li', {},
      h('button', {
        type: 'button', class: 'secondary small', 'data-testid': `count-${c.status}`,
        'aria-pressed': String(params.get('status') === c.status),
        onclick: () => { $('#f-status').value = params.get('status') === c.status ? '' : c.status; state.offset = 0; loadQueue(); },
      }, `${STATUS_LABEL[c.status]}: ${c.count}`))));
    params.set('limit', PAGE);
    params.set('offset', state.offset);
    const response = await raw(`/claims?${params}`);
    state.total = Number(response.headers.get('x-total-count') ?? 0);
    const claims = await response.json();
    $('#claim-rows').replaceChildren(...(claims.length === 0
      ? [h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No claims match.'))]
      : claims.map(claimRow)));
    const last = Math.min(state.offset + claims.length, state.total);
    $('#page-info').textContent = state.total === 0 ? '' : `${state.offset + 1}–${last} of ${state.total}`;
    $('#page-prev').disabled = state.offset === 0;
    $('#page-next').disabled = last >= state.total;
  } catch (e) {
    const field = e.field ? { from: '#f-from', to: '#f-to', payer_id: '#f-payer', patient: '#f-patient', status: '#f-status' }[e.field] : null;
    $('#queue-error').textContent = e.message;
    if (field) $(field).setAttribute('aria-invalid', 'true');
  }
}

function claimRow(claim) {
  return h('tr', { 'data-testid': `claim-row-${claim.number}` },
    h('td', {}, h('button', { type: 'button', class: 'small secondary', 'data-testid': `open-claim-${claim.number}`,
      onclick: () => openClaim(claim.id) }, claim.number)),
    h('td', {}, claim.patient_name),
    h('td', {}, claim.service_date),
    h('td', {}, claim.payer?.payer_name ?? 'No insurance'),
    h('td', {}, h('span', { class: 'badge status' }, STATUS_LABEL[claim.status])),
    h('td', { class: 'num' }, money(claim.total_cents)));
}

// ---- one claim ----

async function openClaim(id) {
  try {
    const detail = await api(`/claims/${encodeURIComponent(id)}/detail`);
    showClaim(detail);
    $('#claim-title').focus();
  } catch (e) {
    toast(e.message);
  }
}

function fact(term, value, testid) {
  return [h('dt', {}, term), h('dd', { 'data-testid': testid }, value ?? '—')];
}

function showClaim(detail) {
  const { claim } = detail;
  state.claim = detail;
  $('#claim').hidden = false;
  $('#claim-title').textContent = `Claim ${claim.number}`;
  $('#claim-facts').replaceChildren(
    ...fact('Status', STATUS_LABEL[claim.status], 'claim-status'),
    ...fact('Patient', detail.patient_name, 'claim-patient'),
    ...fact('Payer', claim.payer ? `${claim.payer.payer_name} (${claim.payer.payer_id}), member ${claim.payer.member_id}` : 'No insurance on file', 'claim-payer'),
    ...fact('Service date', claim.service_date),
    ...fact('Place of service', claim.place_of_service === '10' ? '10 — telehealth in the patient\u2019s home' : `${claim.place_of_service} — telehealth elsewhere`, 'claim-pos'),
    ...fact('Minutes', String(claim.total_minutes)),
    ...fact('Charge', money(claim.total_cents), 'claim-total'),
    ...fact('Paid by insurers', money(claim.paid_cents)),
    ...fact('Frequency', { original: 'Original (1)', replacement: 'Replacement (7)', void: 'Void (8)' }[claim.frequency], 'claim-frequency'),
    ...(claim.payer_claim_number ? fact('Payer claim number', claim.payer_claim_number, 'claim-payer-number') : []),
    ...(claim.status_reason ? fact('Payer\u2019s reason', claim.status_reason, 'claim-status-reason') : []));
  const review = $('#claim-review');
  review.hidden = !claim.review_reason;
  review.textContent = claim.review_reason ? `Needs review: ${claim.review_reason}` : '';
  $('#claim-diagnoses').replaceChildren(...detail.diagnoses.map((d) =>
    h('li', {}, h('strong', {}, d.code), ` — ${d.description ?? 'not in the ICD-10-CM release'}`)));
  $('#claim-lines').replaceChildren(...(claim.lines.length === 0
    ? [h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No lines yet.'))]
    : claim.lines.map((l) => h('tr', {},
      h('td', {}, l.cpt), h('td', {}, l.modifiers.join(', ') || '—'), h('td', { class: 'num' }, String(l.units)),
      h('td', { class: 'num' }, money(l.charge_cents * l.units)), h('td', {}, l.diagnosis_pointers.join(', '))))));
  $('#claim-history').replaceChildren(...detail.history.map((e) => h('li', {},
    `${new Date(e.at).toLocaleString()}: ${e.from_status ? `${STATUS_LABEL[e.from_status]} → ` : 'created as '}${STATUS_LABEL[e.to_status]}`,
    ` by ${e.actor_name ?? 'the billing worker'}`, e.note ? ` (${e.note})` : '')));

  const adjudicated = (claim.status === 'paid' || claim.status === 'denied') && claim.payer_claim_number;
  const fix = $('#fix-form');
  fix.hidden = !(claim.status === 'needs_review' || adjudicated);
  $('#fix-title').textContent = claim.status === 'needs_review' ? 'Fix and release' : 'Corrected claim';
  $('#fix-submit').textContent = claim.status === 'needs_review' ? 'Release claim' : 'Resubmit corrected claim';
  $('#fix-submit').dataset.testid = claim.status === 'needs_review' ? 'release-submit' : 'correct-submit';
  $('#fix-error').textContent = '';
  state.diagnoses = detail.diagnoses.map((d) => ({ code: d.code, description: d.description }));
  renderChosen();
  const line = claim.lines[0];
  $('#fix-cpt').value = line?.cpt ?? '';
  $('#fix-mods').value = line?.modifiers.join(', ') ?? '';
  $('#fix-units').value = line?.units ?? 1;
  $('#fix-pointers').value = line?.diagnosis_pointers.join(', ') ?? '';
  $('#status-form').hidden = !['submitted', 'accepted', 'rejected'].includes(claim.status);
  $('#st-error').textContent = '';
  $('#follow-up').hidden = !adjudicated;
  $('#void-error').textContent = '';
  $('#claim-clearinghouse').replaceChildren(claimPayerPanel(api, claim, { toast, reopen: openClaim }));
}

function renderChosen() {
  $('#fix-diagnoses').replaceChildren(...state.diagnoses.map((d, i) => h('li', { 'data-testid': `fix-dx-${d.code}` },
    `${d.code}${d.description ? ` — ${d.description}` : ''} `,
    h('button', { type: 'button', class: 'small secondary', 'aria-label': `Remove ${d.code}`,
      onclick: () => { state.diagnoses.splice(i, 1); renderChosen(); } }, 'Remove'))));
}

// The diagnosis field searches ICD-10-CM as the biller types.
attachCodeSearch($('#fix-dx'), $('#fix-dx-options'), api);

$('#fix-dx-add').addEventListener('click', async () => {
  const input = $('#fix-dx');
  const code = input.value.trim().toUpperCase().split(/\s/)[0];
  if (!code) return;
  input.removeAttribute('aria-invalid');
  try {
    const [match] = (await api(`/codes/icd10cm?q=${encodeURIComponent(code)}&limit=1`)).filter((m) => m.code === code);
    if (!match || !match.billable) {
      input.setAttribute('aria-invalid', 'true');
      $('#fix-error').textContent = `${code} is not a billable ICD-10-CM code: choose one from the list.`;
      return;
    }
    if (!state.diagnoses.some((d) => d.code === code)) state.diagnoses.push(match);
    $('#fix-error').textContent = '';
    input.value = '';
    renderChosen();
  } catch (e) {
    $('#fix-error').textContent = e.message;
  }
});

$('#fix-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { claim } = state.claim;
  const error = $('#fix-error');
  error.textContent = '';
  const body = {
    diagnoses: state.diagnoses.map((d) => d.code),
    lines: [{
      cpt: $('#fix-cpt').value.trim(),
      modifiers: list($('#fix-mods').value),
      units: Number($('#fix-units').value || 1),
      diagnosis_pointers: list($('#fix-pointers').value).map(Number),
    }],
  };
  if (body.lines[0].diagnosis_pointers.length === 0) delete body.lines[0].diagnosis_pointers;
  const action = claim.status === 'needs_review' ? 'release' : 'correct';
  try {
    await api(`/claims/${claim.id}/${action}`, { method: 'POST', body });
    toast(action === 'release' ? `Claim ${claim.number} released: it is ready to send.` : `Corrected claim ${claim.number} is ready to send.`);
    await Promise.all([openClaim(claim.id), loadQueue()]);
  } catch (e) {
    error.textContent = e.field ? `${fieldName(e.field)}: ${e.message}` : e.message;
  }
});

function fieldName(field) {
  if (field.startsWith('diagnoses')) return 'Diagnoses';
  if (field.endsWith('.cpt')) return 'CPT';
  if (field.endsWith('.modifiers')) return 'Modifiers';
  if (field.endsWith('.units')) return 'Units';
  if (field.endsWith('.diagnosis_pointers')) return 'Diagnosis pointers';
  return 'Lines';
}

$('#status-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { claim } = state.claim;
  const status = $('#st-status').value;
  const reason = $('#st-reason').value.trim();
  if (status !== 'accepted' && !reason) {
    $('#st-error').textContent = 'Give the payer\u2019s reason for a rejection or denial.';
    return;
  }
  try {
    await api(`/claims/${claim.id}/status`, { method: 'POST', body: reason ? { status, reason } : { status } });
    $('#st-reason').value = '';
    toast(`Claim ${claim.number}: ${STATUS_LABEL[status].toLowerCase()}.`);
    await Promise.all([openClaim(claim.id), loadQueue()]);
  } catch (e) {
    $('#st-error').textContent = e.message;
  }
});

$('#void-claim').addEventListener('click', async () => {
  const { claim } = state.claim;
  if (!confirm(`Void claim ${claim.number}? The payer is asked to cancel it.`)) return;
  const reason = $('#void-reason').value.trim();
  try {
    await api(`/claims/${claim.id}/void`, { method: 'POST', body: reason ? { reason } : {} });
    toast(`The void of claim ${claim.number} is ready to send.`);
    await Promise.all([openClaim(claim.id), loadQueue()]);
  } catch (e) {
    $('#void-error').textContent = e.message;
  }
});

// ---- the patient's account ----

$('#open-account').addEventListener('click', () => openAccount(state.claim.claim.patient_id, state.claim.patient_name));

async function openAccount(patientId, name) {
  try {
    const account = await api(`/patients/${encodeURIComponent(patientId)}/account`);
    $('#account').hidden = false;
    $('#account-who').textContent = `${name} — as of ${date(new Date().toISOString())}`;
    $('#account-totals').replaceChildren(
      ...fact('Charges', money(account.charges_cents)),
      ...fact('Insurer payments', money(account.insurer_payments_cents)),
      ...fact('Adjustments', money(account.adjustments_cents)),
      ...fact('Patient payments', money(account.patient_payments_cents)),
      ...fact('Balance due', money(account.balance_cents), 'account-balance'));
    $('#account-entries').replaceChildren(...(account.entries.length === 0
      ? [h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'Nothing posted yet.'))]
      : account.entries.map((e) => h('tr', {},
        h('td', {}, date(e.at)), h('td', {}, KIND_LABEL[e.kind]), h('td', {}, e.note ?? ''),
        h('td', { class: 'num' }, money(e.kind === 'charge' ? e.amount_cents : -e.amount_cents))))));
    $('#account-title').focus();
  } catch (e) {
    toast(e.message);
  }
}

$('#print-statement').addEventListener('click', () => {
  // Only the statement prints; everything else carries no-print.
  document.body.classList.add('printing');
  window.print();
  document.body.classList.remove('printing');
});

// ---- batches ----

async function loadBatches() {
  const batches = await api('/claims/batches');
  $('#batch-rows').replaceChildren(...(batches.length === 0
    ? [h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No batch sent yet.'))]
    : batches.map((b) => h('tr', { 'data-testid': `batch-${b.control_number}` },
      h('td', {}, new Date(b.created_at).toLocaleString()),
      h('td', { class: 'num' }, String(b.claim_count)),
      h('td', {}, String(b.control_number)),
      h('td', {}, h('button', { type: 'button', class: 'small secondary', 'data-testid': `batch-download-${b.control_number}`,
        onclick: () => downloadBatch(b) }, 'Download'))))));
}

async function downloadBatch(batch) {
  try {
    const response = await raw(`/claims/batches/${batch.id}/x12`);
    download(await response.text(), `batch-${batch.control_number}.837`);
  } catch (e) {
    toast(e.message);
  }
}

$('#export-batch').addEventListener('click', async () => {
  const status = $('#export-status');
  const button = $('#export-batch');
  if (!confirm('Send every ready claim in one 837P batch? They become submitted.')) return;
  button.disabled = true;
  status.textContent = '';
  try {
    const response = await raw('/claims/batch', { method: 'POST' });
    if (response.status === 204) {
      status.textContent = 'No claim is ready to send.';
      return;
    }
    const count = response.headers.get('x-claim-count');
    const text = await response.text();
    const control = /ISA\*(?:[^*]*\*){12}0*(\d+)\*/.exec(text)?.[1] ?? 'new';
    download(text, `batch-${control}.837`);
    status.textContent = `Exported ${count} ${count === '1' ? 'claim' : 'claims'} in batch ${control}.`;
    await Promise.all([loadBatches(), loadQueue()]);
  } catch (e) {
    status.textContent = e.message;
  } finally {
    button.disabled = false;
  }
});

// ---- remittances ----

async function loadHolds() {
  const holds = await api('/remittances/holds');
  $('#holds').replaceChildren(...(holds.length === 0
    ? [h('li', { class: 'empty' }, 'Nothing held.')]
    : holds.map(holdItem)));
}

function holdItem(hold) {
  return h('li', { 'data-testid': `hold-${hold.claim_number}` },
    `Claim ${hold.claim_number}: ${hold.reason} (charge ${money(hold.charge_cents)}, paid ${money(hold.paid_cents)})`);
}

$('#remit-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#remit-error');
  const input = $('#remit-file');
  error.textContent = '';
  input.removeAttribute('aria-invalid');
  const file = input.files[0];
  if (!file) {
    input.setAttribute('aria-invalid', 'true');
    error.textContent = 'Choose an 835 file first.';
    return;
  }
  try {
    const response = await raw('/remittances', { method: 'POST', body: await file.text() });
    const result = await response.json();
    $('#remit-result').replaceChildren(
      h('p', {}, `Remittance ${result.trace_number}: ${result.posted.length} posted, ${result.held.length} held.`),
      h('ul', { 'data-testid': 'remit-posted' }, result.posted.map((p) => h('li', {},
        `${STATUS_LABEL[p.status]}: paid ${money(p.paid_cents)}, adjusted ${money(p.adjustment_cents)}, patient owes ${money(p.patient_responsibility_cents)}`))),
      h('ul', { 'data-testid': 'remit-held' }, result.held.map(holdItem)));
    input.value = '';
    await Promise.all([loadHolds(), loadQueue(), loadAging()]);
  } catch (e) {
    error.textContent = e.message;
  }
});

// ---- 999 acknowledgements ----

$('#ack-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const error = $('#ack-error');
  const input = $('#ack-file');
  error.textContent = '';
  input.removeAttribute('aria-invalid');
  const file = input.files[0];
  if (!file) {
    input.setAttribute('aria-invalid', 'true');
    error.textContent = 'Choose a 999 file first.';
    return;
  }
  try {
    const response = await raw('/acknowledgements', { method: 'POST', body: await file.text() });
    $('#ack-result').replaceChildren(...acknowledgementResult(await response.json()));
    input.value = '';
    await loadQueue();
  } catch (e) {
    error.textContent = e.message;
  }
});

// ---- aging ----

async function loadAging() {
  const report = await api('/reports/aging');
  $('#aging-asof').textContent = `Days since the date of service, as of ${report.as_of}.`;
  const row = (r, name, testid) => h('tr', { 'data-testid': testid },
    h('th', { scope: 'row' }, name),
    ...[r.days_0_30, r.days_31_60, r.days_61_90, r.days_over_90, r.total].map((c) => h('td', { class: 'num' }, money(c))));
  $('#aging-rows').replaceChildren(
    ...report.payers.map((r) => row(r, r.payer_name ?? 'No insurance', `aging-${r.payer_id ?? 'none'}`)),
    row(report.totals, 'All payers', 'aging-total'));
}

// ---- start ----

async function start() {
  if (!loadSession()) {
    location.replace('/');
    return;
  }
  const user = await api('/auth/me');
  mountHeader(user);
  if (user.role !== 'billing' && user.role !== 'admin') {
    $('#forbidden').hidden = false;
    return;
  }
  $('#console').hidden = false;
  $('#f-status').append(...Object.entries(STATUS_LABEL).map(([value, label]) => h('option', { value }, label)));
  $('#filters').addEventListener('submit', (event) => {
    event.preventDefault();
    for (const el of $('#filters').querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    state.offset = 0;
    loadQueue();
  });
  $('#page-prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); loadQueue(); });
  $('#page-next').addEventListener('click', () => { state.offset += PAGE; loadQueue(); });
  await Promise.all([loadQueue(), loadBatches(), loadHolds(), loadAging()]).catch((e) => toast(e.message));
}

start().catch((e) => toast(e.message));
