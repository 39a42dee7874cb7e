// Admit → both browsers connected, in real Chromium on loopback, with where
// the time goes. Not a test: it prints figures.
//
//   node tests/e2e/bench/admit-connected.mjs [rounds]      (default 15)
//   BEDSIDE_BIN=target/release/bedside node tests/e2e/bench/admit-connected.mjs
//
// Each round books a visit through the API, opens the patient's link in one
// browser context (device check, then the waiting room) and admits the
// patient from the clinician's console in another; the clock starts at the
// admit click (as the console's page sees it). Both pages record, on the shared clock, when the admission
// reached them, when their peer connection was made, offered or answered,
// gathered its first candidate, and connected, and when the first remote
// video frame was shown. The round's visit is closed through the API after.

import { startServer, launchChromium, apiFor, signInApi, eventually } from '../harness.js';

const ROUNDS = Number(process.argv[2] ?? 15);

// Runs in each page before its scripts: timestamps of the call's milestones.
function instrument() {
  const marks = {};
  const mark = (name) => { marks[name] ??= Date.now(); };
  window.__marks = marks;
  // Peer connections made before the admit click (the patient's network
  // check) are not the call's.
  window.__armed = false;
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      if (!window.__armed) return;
      mark('pc_created');
      this.addEventListener('icecandidate', (e) => { if (e.candidate) mark('first_candidate'); else mark('gathering_done'); });
      this.addEventListener('iceconnectionstatechange', () => {
        if (this.iceConnectionState === 'checking') mark('ice_checking');
        if (this.iceConnectionState === 'connected') mark('ice_connected');
      });
      this.addEventListener('connectionstatechange', () => {
        if (this.connectionState === 'connected') mark('connected');
      });
      this.addEventListener('track', (e) => {
        if (e.track.kind !== 'video') return;
        mark('remote_track');
      });
    }

    async setLocalDescription(description) {
      const result = await super.setLocalDescription(description);
      if (window.__armed) mark(this.localDescription?.type === 'offer' ? 'offer_made' : 'answer_made');
      return result;
    }

    async setRemoteDescription(description) {
      if (window.__armed) mark(description?.type === 'offer' ? 'offer_received' : 'answer_received');
      return super.setRemoteDescription(description);
    }
  };
  // The console's requests and its camera, once armed.
  const nativeFetch = window.fetch.bind(window);
  window.fetch = async (input, init) => {
    const response = await nativeFetch(input, init);
    const url = String(input?.url ?? input);
    if (window.__armed) {
      for (const [part, name] of [['/admit', 'admit_answered'], ['/media', 'media_plan_answered'], ['/history', 'chart_answered']]) {
        if (url.includes(part)) mark(name);
      }
    }
    return response;
  };
  if (navigator.mediaDevices?.getUserMedia) {
    const nativeGum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (constraints) => {
      const stream = await nativeGum(constraints);
      if (window.__armed) mark('camera_open');
      return stream;
    };
  }
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch { return; }
        if (frame.type === 'visit' && frame.status === 'in_consult') mark('admitted_frame');
        if (frame.type === 'joined' || frame.type === 'peer_joined') mark(`${frame.type}_frame`);
      });
    }
  };
  // The admit click as the page sees it: the clock's origin.
  document.addEventListener('click', (event) => {
    if (window.__armed && event.target.closest?.('[data-testid^="admit-"]')) mark('admit_clicked');
  }, true);
  // The first frame painted in the remote video.
  const watch = () => {
    const video = document.querySelector('[data-testid="remote-video"]');
    if (video && video.videoWidth > 0 && video.currentTime > 0) { mark('first_frame'); return; }
    requestAnimationFrame(watch);
  };
  document.addEventListener('DOMContentLoaded', () => requestAnimationFrame(watch));
}

function percentile(sorted, p) {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const server = await startServer();
const browser = await launchChromium();
const api = apiFor(server.base);
const scheduler = await signInApi(server, 'scheduler');
const clinician = await signInApi(server, 'dr.grey');
const queue = await api('/queues', { method: 'POST', token: scheduler.token, body: { name: 'Benchmark' } });
const [patient] = await api('/patients?name=Lovelace', { token: scheduler.token });

const rounds = [];
try {
  for (let round = 1; round <= ROUNDS; round += 1) {
    const visit = await api('/visits', { method: 'POST', token: scheduler.token, body: { patient_id: patient.id, queue_id: queue.id, reason: 'Review' } });
    await api(`/visits/${visit.id}/check-in`, { method: 'POST', token: visit.patient_token, body: { consent_to_telehealth: true } });

    const patientContext = await browser.newContext({ viewport: { width: 375, height: 740 } });
    await patientContext.addInitScript(instrument);
    const patientPage = await patientContext.newPage();
    await patientPage.goto(visit.join_url);
    await patientPage.getByTestId('device-continue').click();
    await patientPage.getByTestId('waiting-position').waitFor({ timeout: 20_000 });

    const staffContext = await browser.newContext({ viewport: { width: 1366, height: 900 } });
    await staffContext.addInitScript(instrument);
    const consolePage = await staffContext.newPage();
    await consolePage.goto(`${server.base}/`);
    await consolePage.getByTestId('username').fill('dr.grey');
    await consolePage.getByTestId('password').fill(server.accounts['dr.grey'].password);
    await consolePage.getByTestId('sign-in').click();
    await consolePage.waitForURL('**/clinician');
    const admit = consolePage.getByTestId(`admit-${visit.id}`);
    await admit.waitFor({ timeout: 20_000 });

    await Promise.all([patientPage, consolePage].map((p) => p.evaluate(() => { window.__armed = true; })));
    const start = Date.now();
    await admit.click();
    const both = await eventually(async () => {
      const marks = await Promise.all([patientPage, consolePage].map((p) => p.evaluate(() => window.__marks)));
      return marks.every((m) => m.connected && m.first_frame) ? marks : null;
    }, { message: 'both browsers connected with frames', timeout: 30_000, interval: 20 });
    const origin = both[1].admit_clicked ?? start;
    const [p, c] = both.map((m) => Object.fromEntries(Object.entries(m)
      .filter(([k]) => k !== 'admit_clicked')
      .map(([k, v]) => [k, v - origin])));
    rounds.push({ patient: p, clinician: c, connected: Math.max(p.connected, c.connected) });
    process.stderr.write(`round ${round}: both connected ${Math.max(p.connected, c.connected)} ms\n`);

    await api(`/visits/${visit.id}/close`, {
      method: 'POST',
      token: clinician.token,
      body: {
        diagnoses: ['Z00.00'],
        note: { subjective: 'Benchmark', objective: 'n/a', assessment: 'n/a', plan: 'n/a' },
        total_minutes: 5,
        patient_location: 'home',
      },
    });
    await Promise.all([patientContext.close(), staffContext.close()]);
  }
} finally {
  await browser.close();
  await server.stop();
}

const rows = [['admit → both connected', rounds.map((r) => r.connected)]];
for (const side of ['clinician', 'patient']) {
  const names = [...new Set(rounds.flatMap((r) => Object.keys(r[side])))];
  const order = (name) => percentile(rounds.map((r) => r[side][name]).filter(Number.isFinite).sort((a, b) => a - b), 50);
  for (const name of names.sort((a, b) => order(a) - order(b))) {
    rows.push([`${side}: ${name}`, rounds.map((r) => r[side][name]).filter(Number.isFinite)]);
  }
}
console.log(`admit → connected, ${rounds.length} rounds, ms after the admit click (${process.env.BEDSIDE_BIN ?? 'debug build'})`);
console.log('| milestone | p50 | p95 | max |');
console.log('| --- | --- | --- | --- |');
for (const [name, values] of rows) {
  const sorted = values.sort((a, b) => a - b);
  console.log(`| ${name} | ${percentile(sorted, 50)} | ${percentile(sorted, 95)} | ${sorted.at(-1)} |`);
}
