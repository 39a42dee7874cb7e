// What the payer says, for the scheduler's visit cards and the billing
// console: a visit's eligibility (checked through the clearinghouse and
// kept on the visit), a claim's status inquiry, and 999 uploads.

import { h } from './dom.js';

const money = (cents) => `$${(cents / 100).toFixed(2)}`;

/** One line a scheduler reads at a glance. */
export function eligibilityText(answer) {
  if (!answer) return 'Insurance not checked yet.';
  if (answer.coverage === 'rejected') {
    return `Insurance could not be checked: ${answer.problems.join('; ') || 'the payer refused the inquiry'}.`;
  }
  if (answer.coverage === 'inactive') return 'Insurance inactive: the payer reports no active coverage.';
  if (answer.coverage === 'unknown') return 'Insurance answer unclear: the payer did not say whether coverage is active.';
  const parts = [`Insurance active${answer.plan_name ? ` (${answer.plan_name})` : ''}`];
  if (answer.copay_cents != null) parts.push(`copay ${money(answer.copay_cents)}`);
  if (answer.deductible_cents != null) {
    const left = answer.deductible_remaining_cents != null ? `, ${money(answer.deductible_remaining_cents)} left` : '';
    parts.push(`deductible ${money(answer.deductible_cents)}${left}`);
  }
  if (answer.coinsurance_percent != null) parts.push(`coinsurance ${answer.coinsurance_percent}%`);
  return `${parts.join(' · ')}.`;
}

// Answers by visit, so a board that re-renders keeps them: undefined not
// asked yet, null none kept, else the answer.
const answers = new Map();
const asking = new Set();

async function lastAnswer(api, visitId) {
  try {
    return await api(`/visits/${encodeURIComponent(visitId)}/eligibility`);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

/**
 * The eligibility line and its "Check insurance" button for one visit
 * card. `rerender` redraws the board once an answer arrives.
 */
export function eligibilityBlock(api, visitId, patientName, { toast, rerender }) {
  if (!answers.has(visitId) && !asking.has(visitId)) {
    asking.add(visitId);
    lastAnswer(api, visitId)
      .then((answer) => { answers.set(visitId, answer); rerender(); })
      .catch(() => {})
      .finally(() => asking.delete(visitId));
  }
  const check = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    try {
      const answer = await api(`/visits/${encodeURIComponent(visitId)}/eligibility`, { method: 'POST' });
      answers.set(visitId, answer);
      toast(`${patientName}: ${eligibilityText(answer)}`);
    } catch (e) {
      toast(`${patientName}: ${e.message}`);
    } finally {
      button.disabled = false;
      rerender();
    }
  };
  const answer = answers.get(visitId);
  return h('div', { class: 'entry-eligibility' },
    h('p', { class: 'hint', 'data-testid': `eligibility-${visitId}` },
      answer === undefined ? 'Insurance: looking…' : eligibilityText(answer)),
    h('button', { type: 'button', class: 'small secondary', 'data-testid': `eligibility-check-${visitId}`, onclick: check },
      'Check insurance', h('span', { class: 'visually-hidden' }, ` of ${patientName}`)));
}

/**
 * The billing console's claim panel: the visit's last eligibility answer
 * and, once the claim was sent, "Ask the payer" (a 276 status inquiry).
 */
export function claimPayerPanel(api, claim, { toast, reopen }) {
  const line = h('p', { 'data-testid': 'claim-eligibility' }, 'Insurance: looking…');
  lastAnswer(api, claim.visit_id)
    .then((answer) => { line.textContent = eligibilityText(answer); })
    .catch((e) => { line.textContent = e.message; });
  const result = h('p', { role: 'status', 'data-testid': 'claim-inquiry-result' });
  const ask = async (event) => {
    const button = event.currentTarget;
    button.disabled = true;
    result.textContent = 'Asking the payer…';
    try {
      const answer = await api(`/claims/${encodeURIComponent(claim.id)}/status-inquiry`, { method: 'POST' });
      toast(`Claim ${claim.number}: ${answer.description}`);
      await reopen(claim.id);
    } catch (e) {
      result.textContent = e.message;
      button.disabled = false;
    }
  };
  return h('div', { class: 'payer-panel' },
    line,
    claim.submitted_at
      ? h('div', { class: 'actions start' },
        h('button', { type: 'button', class: 'secondary', 'data-testid': 'claim-inquiry', onclick: ask }, 'Ask the payer for its status'))
      : null,
    result);
}

/** What a posted 999 did, as a list. */
export function acknowledgementResult(result) {
  const verdict = { accepted: 'accepted', partially_accepted: 'partially accepted', rejected: 'rejected' }[result.verdict] ?? result.verdict;
  return [
    h('p', {}, `Batch ${result.group_control_number}: ${verdict}.`),
    h('ul', { 'data-testid': 'ack-claims' }, result.claims.map((c) => h('li', {},
      `${c.number}: ${c.status}${c.moved ? '' : ' (unchanged)'}${c.errors.length ? ` — ${c.errors.join('; ')}` : ''}`))),
  ];
}
