// With LiveKit configured, the browser joins the visit's LiveKit room with
// the LiveKit JavaScript client instead of peer-to-peer. No LiveKit server
// runs here, so a stand-in answers Bedside's RoomService calls and records
// the client's signalling connection: the test checks that the page loads
// the client, that the page's policy lets it reach LiveKit, and that it
// presents this participant's join token for this visit's room only.
//
// The patient's screen share in a LiveKit room: the patient's join token
// may not publish a screen, so the clinician's "Let others share" asks
// Bedside (`PUT /visits/{id}/screen-share`), which asks LiveKit's
// RoomService to change the patient's permission (`UpdateParticipant`, read
// here from its protobuf body); only then does the patient's page offer
// `share-screen`, and taking it back hides it and narrows the permission
// again. Publishing the screen itself needs a real room.
//
// Call quality in a LiveKit room can be checked here only short of the
// room itself: the call view shows the indicator, the mode and (for the
// clinician) the screen-share button, and the figures of two real peer
// connections, standing where LiveKit's publisher and subscriber stand,
// make one summary for the `stats` frame. That summaries flow while a real
// LiveKit room carries the call needs a LiveKit server, which this machine
// cannot install.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startServer, launchChromium, apiFor, signInApi, watchPage, eventually, waitingVisit } from './harness.js';

let server;
let browser;
let livekit;
const problems = [];

/** RoomService calls get an empty (all-default) protobuf answer and are recorded with their bodies; WebSocket upgrades are recorded. */
async function startLiveKitStandIn() {
  const upgrades = [];
  const rooms = [];
  const requests = [];
  const standIn = http.createServer((request, response) => {
    if (request.method === 'POST' && request.url.startsWith('/twirp/livekit.RoomService/')) {
      const method = request.url.split('/').pop();
      rooms.push(method);
      const chunks = [];
      request.on('data', (chunk) => chunks.push(chunk));
      request.on('end', () => {
        requests.push({ method, authorization: request.headers.authorization, body: Buffer.concat(chunks) });
        response.writeHead(200, { 'content-type': 'application/protobuf' });
        response.end();
      });
      return;
    }
    response.writeHead(404);
    response.end();
  });
  standIn.on('upgrade', (request, socket) => {
    upgrades.push(new URL(request.url, 'http://livekit'));
    socket.destroy();
  });
  await new Promise((resolve) => standIn.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${standIn.address().port}`,
    upgrades,
    rooms,
    requests,
    close: () => new Promise((resolve) => standIn.close(resolve)),
  };
}

function claims(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

/**
 * The fields of a protobuf message, by number: varints as numbers,
 * length-delimited fields as Buffers (enough for RoomService requests).
 */
function protoFields(buffer) {
  const fields = {};
  let at = 0;
  const varint = () => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = buffer[at++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < buffer.length) {
    const key = varint();
    const [number, wire] = [Math.floor(key / 8), key % 8];
    let value;
    if (wire === 0) value = varint();
    else if (wire === 2) { const length = varint(); value = buffer.subarray(at, at + length); at += length; }
    else throw new Error(`unexpected wire type ${wire}`);
    (fields[number] ??= []).push(value);
  }
  return fields;
}

/** An `UpdateParticipantRequest`: room, identity and the permission's fields. */
function updateParticipant(body) {
  const request = protoFields(body);
  const permission = protoFields(request[4]?.[0] ?? Buffer.alloc(0));
  const packed = permission[9]?.[0] ?? Buffer.alloc(0);
  const sources = [];
  for (let at = 0; at < packed.length; at += 1) sources.push(packed[at]);
  return {
    room: request[1]?.[0]?.toString(),
    identity: request[2]?.[0]?.toString(),
    canSubscribe: permission[1]?.[0] === 1,
    canPublish: permission[2]?.[0] === 1,
    canPublishData: permission[3]?.[0] === 1,
    // TrackSource: 1 camera, 2 microphone, 3 screen_share.
    sources,
  };
}

before(async () => {
  livekit = await startLiveKitStandIn();
  server = await startServer({
    LIVEKIT_URL: livekit.url,
    LIVEKIT_API_KEY: 'bedside-e2e-key',
    LIVEKIT_API_SECRET: 'bedside-e2e-secret-of-at-least-32-bytes',
  });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await livekit?.close();
});

test('the patient joins the visit\'s LiveKit room with its own token', async () => {
  const api = apiFor(server.base);
  const { visit } = await waitingVisit(server, 'LiveKit visits');
  const clinician = await signInApi(server, 'dr.grey');
  await api(`/visits/${visit.id}/admit`, { method: 'POST', token: clinician.token, body: {} });

  const context = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  const patient = await context.newPage();
  problems.push(watchPage(patient, 'patient'));
  const csp = await new Promise((resolve) => {
    patient.on('response', (r) => { if (new URL(r.url()).pathname.startsWith('/join/')) resolve(r.headers()['content-security-policy']); });
    patient.goto(visit.join_url);
  });
  assert.match(csp, new RegExp(`connect-src 'self' ws://127\\.0\\.0\\.1:\\d+ http://127\\.0\\.0\\.1:\\d+;`));
  await patient.getByTestId('device-continue').click();

  // The page loads the LiveKit client and opens its signalling connection.
  const upgrade = await eventually(() => livekit.upgrades.find((u) => u.pathname.startsWith('/rtc')), { message: 'a LiveKit signalling connection', timeout: 20_000 });
  const token = claims(upgrade.searchParams.get('access_token'));
  assert.equal(token.sub, `patient-${visit.id}`);
  assert.equal(token.iss, 'bedside-e2e-key');
  assert.equal(token.video.room, `visit-${visit.id}`);
  assert.equal(token.video.roomJoin, true);
  assert.ok(livekit.rooms.includes('CreateRoom'), `RoomService calls: ${livekit.rooms}`);
  const loaded = await patient.evaluate(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/assets/vendor/livekit-client.esm.mjs')));
  assert.ok(loaded, 'the LiveKit client was loaded');
  // No peer-to-peer connection was attempted.
  assert.equal(await patient.evaluate(() => window.__bedside.call?.constructor.name), 'LiveKitCall');
  await context.close();
});

test('a LiveKit call shows the quality indicator and screen sharing, and its connections\' figures make one summary', async () => {
  const { visit } = await waitingVisit(server, 'LiveKit quality');

  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const console_ = await context.newPage();
  problems.push(watchPage(console_, 'clinician'));
  await console_.goto(`${server.base}/`);
  // Not dr.grey: the first test left her in a consult.
  await console_.getByTestId('username').fill('dr.house');
  await console_.getByTestId('password').fill(server.accounts['dr.house'].password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();
  await eventually(() => console_.evaluate(() => window.__bedside.call?.constructor.name === 'LiveKitCall'), { message: 'a LiveKit call' });
  assert.match(await console_.getByTestId('call-quality').textContent(), /^good/);
  assert.equal((await console_.getByTestId('call-mode').textContent()).trim(), 'video');
  assert.equal(await console_.getByTestId('share-screen').isVisible(), true);
  assert.equal(await console_.getByTestId('allow-share').isVisible(), true);
  // The stand-in never lets the room connect: no figures, nothing sent.
  assert.equal(await console_.evaluate(() => window.__bedside.call.getStats()), null);

  // Two real connections in the page: one sends this page's camera and
  // microphone (as LiveKit's publisher), one receives another's (as its
  // subscriber). Read twice, their merged figures make one summary.
  const merged = await console_.evaluate(async () => {
    const { mergeReports } = await import('/assets/lib/livekit.js');
    const { Sampler } = await import('/assets/lib/quality.js');
    const media = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
    async function pair(stream) {
      const a = new RTCPeerConnection();
      const b = new RTCPeerConnection();
      a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
      b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
      for (const track of stream.getTracks()) a.addTrack(track, stream);
      await a.setLocalDescription();
      await b.setRemoteDescription(a.localDescription);
      await b.setLocalDescription();
      await a.setRemoteDescription(b.localDescription);
      await new Promise((resolve) => {
        const check = () => { if (a.connectionState === 'connected') resolve(); else setTimeout(check, 100); };
        check();
      });
      return [a, b];
    }
    const [publisher] = await pair(media);
    const [, subscriber] = await pair(media.clone());
    const room = { getStats: async () => mergeReports([await publisher.getStats(), await subscriber.getStats()]) };
    const sampler = new Sampler();
    const figures = { mode: 'video', limited: false };
    let summary = null;
    for (let i = 0; i < 40 && !(summary?.received && summary.sent && summary.rtt_ms !== null && summary.kbps_in > 0); i += 1) {
      await new Promise((r) => setTimeout(r, 500));
      summary = (await sampler.read(room, figures))?.summary ?? null;
    }
    // Nothing lost to the two connections' like-named entries.
    const [a, b] = [await publisher.getStats(), await subscriber.getStats()];
    const kept = mergeReports([a, b]).size === a.size + b.size;
    return { summary, kept };
  });
  assert.equal(merged.kept, true, 'every entry of both reports kept');
  const reading = merged.summary;
  assert.ok(reading, 'a summary from the merged figures');
  assert.ok(reading.kbps_out > 0, `sent bitrate: ${JSON.stringify(reading)}`);
  assert.ok(reading.kbps_in > 0, `received bitrate: ${JSON.stringify(reading)}`);
  assert.ok(reading.sent?.width > 0 && reading.received?.width > 0, `video both ways: ${JSON.stringify(reading)}`);
  assert.equal(typeof reading.rtt_ms, 'number');
  assert.equal(reading.candidate, 'host');
  await context.close();
  // The stand-in refusing LiveKit's signalling is expected; nothing else.
  assert.deepEqual(problems.flat().filter((p) => !p.includes('/rtc/v1')), []);
});

test('in a LiveKit call the patient is offered screen sharing once the room lets it publish a screen, and loses it again', async () => {
  const api = apiFor(server.base);
  const admin = await signInApi(server, 'admin');
  // A clinician of its own: the earlier tests left both demo clinicians in a consult.
  const password = 'lets-the-patient-share-1';
  await api('/users', { method: 'POST', token: admin.token, body: { username: 'dr.share', password, role: 'clinician', display_name: 'Dr. Share', npi: '1234567893' } });
  const { visit } = await waitingVisit(server, 'LiveKit screen share', { reason: 'Results' });
  const seen = [];

  const clinicianContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const console_ = await clinicianContext.newPage();
  seen.push(watchPage(console_, 'clinician'));
  const puts = [];
  console_.on('request', (r) => { if (r.method() === 'PUT' && r.url().endsWith(`/visits/${visit.id}/screen-share`)) puts.push(r.postDataJSON()); });
  await console_.goto(`${server.base}/`);
  await console_.getByTestId('username').fill('dr.share');
  await console_.getByTestId('password').fill(password);
  await console_.getByTestId('sign-in').click();
  await console_.waitForURL('**/clinician');
  await console_.getByTestId(`admit-${visit.id}`).click();
  await eventually(() => console_.evaluate(() => window.__bedside.call?.constructor.name === 'LiveKitCall'), { message: 'the clinician\u2019s LiveKit call' });

  const patientContext = await browser.newContext({ viewport: { width: 1024, height: 800 } });
  const patient = await patientContext.newPage();
  seen.push(watchPage(patient, 'patient'));
  await patient.goto(visit.join_url);
  await patient.getByTestId('device-continue').click({ timeout: 30_000 });
  await eventually(() => patient.evaluate(() => window.__bedside.call?.constructor.name === 'LiveKitCall'), { message: 'the patient\u2019s LiveKit call' });
  assert.equal(await patient.getByTestId('share-screen').isVisible(), false, 'no share button before the clinician allows it');

  const updates = () => livekit.requests.filter((r) => r.method === 'UpdateParticipant').map((r) => ({ ...updateParticipant(r.body), grants: claims(r.authorization.replace(/^Bearer /, '')).video }));
  await console_.getByTestId('allow-share').click();
  await eventually(() => patient.getByTestId('share-screen').isVisible(), { message: 'the patient\u2019s share button' });
  assert.deepEqual(puts, [{ allowed: true }]);
  const [granted] = updates();
  assert.deepEqual(granted, {
    room: `visit-${visit.id}`,
    identity: `patient-${visit.id}`,
    canSubscribe: true,
    canPublish: true,
    canPublishData: false,
    sources: [1, 2, 3],
    grants: { roomAdmin: true, room: `visit-${visit.id}` },
  });

  await console_.getByTestId('allow-share').click();
  await eventually(async () => !(await patient.getByTestId('share-screen').isVisible()), { message: 'the share button gone' });
  await eventually(() => updates().length === 2, { message: 'the permission narrowed in the room' });
  assert.deepEqual(puts, [{ allowed: true }, { allowed: false }]);
  const revoked = updates()[1];
  assert.equal(revoked.identity, `patient-${visit.id}`);
  assert.deepEqual(revoked.sources, [1, 2]);
  await patientContext.close();
  await clinicianContext.close();
  assert.deepEqual(seen.flat().filter((p) => !p.includes('/rtc/v1')), []);
});
