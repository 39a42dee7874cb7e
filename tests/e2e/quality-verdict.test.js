// The call-quality indicator's words (web/lib/quality.js `verdict`), from
// each side's summary: who is blamed for what. Pure logic, no browser.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { verdict } from '../../web/lib/quality.js';

/** A summary as a page sends it: nothing wrong unless said. */
const summary = (over = {}) => ({
  rtt_ms: 40, jitter_ms: 5, loss_in_pct: 0, loss_out_pct: 0, mode: 'video', limited: false, ...over,
});

test('a side held back in sending, with the other side reporting on time, is told its upload is weak', () => {
  const { grade, reason } = verdict(summary({ limited: true }), summary());
  assert.equal(grade, 'fair');
  assert.equal(reason, 'your upload is weak');
});

test('held back while the other side\u2019s reports come late, and nothing lost: the other side\u2019s connection is named', () => {
  const mine = summary({ limited: true });
  const theirs = summary({ limited: true });
  assert.equal(verdict(mine, theirs).reason, 'your upload is weak');
  assert.equal(verdict(mine, theirs, { theirsLate: true }).reason, 'the other side\u2019s connection is unstable');
});

test('what this side measured lost on its way out is its own upload, late reports or not', () => {
  const mine = summary({ limited: true, loss_out_pct: 8 });
  assert.equal(verdict(mine, summary(), { theirsLate: true }).reason, 'your upload is weak');
});

test('loss both ways is said as such whether the reports are late or not', () => {
  const mine = summary({ loss_in_pct: 12, loss_out_pct: 12 });
  const theirs = summary({ loss_in_pct: 12, loss_out_pct: 12 });
  for (const theirsLate of [false, true]) {
    assert.deepEqual(verdict(mine, theirs, { theirsLate }), { grade: 'poor', reason: 'the connection is unstable both ways' });
  }
});

test('while a new connection settles, sending held back is no fault of anyone, but loss still is', () => {
  const mine = summary({ limited: true });
  const theirs = summary({ limited: true });
  assert.deepEqual(verdict(mine, theirs, { settling: true }), { grade: 'good', reason: 'the connection is good' });
  assert.equal(verdict(mine, theirs).reason, 'your upload is weak');
  const lossy = summary({ limited: true, loss_out_pct: 8 });
  assert.deepEqual(verdict(lossy, theirs, { settling: true }), { grade: 'fair', reason: 'your upload is weak' });
});

test('held back while only the other side\u2019s outgoing path loses and it is held back too: the other side\u2019s connection is named', () => {
  // The patient's upload is capped: the patient loses going out and is held back; the
  // clinician's sending is held back for want of the feedback that crosses that upload.
  const clinician = summary({ limited: true, mode: 'audio_only', loss_in_pct: 6 });
  const patient = summary({ limited: true, mode: 'audio_only', loss_out_pct: 6 });
  assert.deepEqual(verdict(clinician, patient), { grade: 'poor', reason: 'the other side\u2019s connection is unstable' });
  assert.deepEqual(verdict(patient, clinician), { grade: 'poor', reason: 'your upload is weak' });
  // Loss coming in while the other side is not held back says nothing about this side's upload.
  assert.equal(verdict(summary({ limited: true, loss_in_pct: 6 }), summary()).reason, 'your upload is weak');
});
