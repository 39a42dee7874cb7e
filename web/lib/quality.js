// Call quality on both call pages: every few seconds this browser reads
// `getStats()` of its main connection, sends the server a compact `stats`
// summary (the server keeps the visit's timeline and relays it to the
// other side as `peer_stats`), and shows an honest indicator: good, fair or
// poor, and why in plain words, from its own figures and the other side's.
//
// It also adapts what this browser sends as its upload allows: smaller and
// slower video first (RTCRtpSender.setParameters), then audio only (the
// video sender keeps its transceiver, with no track), and back to video
// once a trial shows the upload can carry it again. The other side hears
// the mode in the next summary and shows it as `call-mode`.
//
// And screen sharing: the clinician may share, and may let the patient
// share; the shared screen replaces the camera on the video sender.
//
// In a LiveKit room the figures come from the room's own peer connections
// (LiveKitCall.getStats) and go out in the same `stats` frame; LiveKit
// adapts the sent video itself, so nothing here steps it down, and a shared
// screen is a track of its own beside the camera. The patient's join token
// may not publish a screen: letting the patient share asks the server to
// change the patient's permission in the room (`allowScreenShare`), and the
// patient hears the frame only once the room took it.
//
// Only figures leave the browser: never names, text or anything about the
// patient.

import { h } from './dom.js';

const SAMPLE_MS = 2_500;
/** The server takes one summary per socket per ~2 s. */
const MIN_GAP_MS = 2_100;

/** Sent video, best first; the last step before audio only is the smallest. */
export const LEVELS = [
  { scaleResolutionDownBy: 1, maxBitrate: 1_200_000, maxFramerate: 30 },
  { scaleResolutionDownBy: 2, maxBitrate: 450_000, maxFramerate: 20 },
  { scaleResolutionDownBy: 4, maxBitrate: 150_000, maxFramerate: 12 },
];
/** Below this estimated upload (bit/s) a level steps down; above `up` it steps up. */
const DOWN = [700_000, 250_000, 90_000];
const UP = [Infinity, 900_000, 350_000];
/** Samples in a row a change needs, so one bad reading changes nothing. */
const SUSTAIN = 2;
/** First wait in audio only before trying video again; doubles to the cap. */
const RETRY_MS = 10_000;
const RETRY_CAP_MS = 20_000;
/** A trial of video after audio only fails below this estimated upload (bit/s). */
const TRIAL_FLOOR = 60_000;

/** Grade of one summary: the same thresholds as the server's record. */
export function grade(s) {
  if (!s) return 'good';
  const loss = Math.max(s.loss_in_pct ?? 0, s.loss_out_pct ?? 0);
  const rtt = s.rtt_ms ?? 0;
  const jitter = s.jitter_ms ?? 0;
  const audioOnly = s.mode === 'audio_only';
  if (loss >= 10 || rtt >= 600 || jitter >= 100 || (s.limited && audioOnly)) return 'poor';
  if (loss >= 3 || rtt >= 300 || jitter >= 40 || s.limited || audioOnly) return 'fair';
  return 'good';
}

const RANK = { good: 0, fair: 1, poor: 2 };

/** The other side's summary is late past this (it sends one every ~2.5 s). */
export const LATE_MS = 3 * SAMPLE_MS;
/** A new connection's bandwidth estimate ramps up for about this long. */
export const SETTLE_MS = 5_000;

/**
 * The indicator's words from this side's summary and the other side's.
 * `theirsLate`: the other side's last summary came longer than
 * {@link LATE_MS} ago, though the call is up. `settling`: the connection
 * is younger than {@link SETTLE_MS}, so sending held back says nothing yet
 * (every estimate starts low), though loss, delay and jitter do.
 * @returns {{grade: string, reason: string}}
 */
export function verdict(mine, theirs, { theirsLate = false, settling = false } = {}) {
  if (settling) {
    const steady = (s) => s && { ...s, limited: false };
    return verdict(steady(mine), steady(theirs), { theirsLate });
  }
  const own = grade(mine);
  const other = grade(theirs);
  const worst = RANK[own] >= RANK[other] ? own : other;
  if (worst === 'good') return { grade: 'good', reason: 'the connection is good' };
  // A long round trip is nobody's upload or download: named when nothing
  // is lost and both still send video (held back or not).
  const calm = (s) => grade(s && { ...s, rtt_ms: 0, limited: false }) === 'good';
  const slow = Math.max(mine?.rtt_ms ?? 0, theirs?.rtt_ms ?? 0) >= 300;
  if (slow && calm(mine) && calm(theirs)) return { grade: worst, reason: 'the connection has a long delay' };
  // Each side reports both directions: what one loses coming in, the other
  // lost going out.
  const lossIn = (mine?.loss_in_pct ?? 0) >= 3 || (theirs?.loss_out_pct ?? 0) >= 3;
  const lossOut = (mine?.loss_out_pct ?? 0) >= 3 || (theirs?.loss_in_pct ?? 0) >= 3;
  if (lossIn && lossOut) return { grade: worst, reason: 'the connection is unstable both ways' };
  // Only the other side's outgoing path loses, and it says its sending is
  // held back: its upload struggles. This side's sending may be held back
  // too, as the feedback it needs comes over that same upload.
  if (lossIn && theirs?.limited) return { grade: worst, reason: 'the other side\u2019s connection is unstable' };
  const uploadWeak = mine && (mine.limited || lossOut);
  if (uploadWeak && (RANK[own] >= RANK[other] || lossOut)) {
    // The other side's reports come late over its own upload: when that is
    // what struggles, this side's sending is held back for want of its
    // feedback, and nothing here is lost. Not this side's upload, then.
    if (theirsLate && !lossOut) return { grade: worst, reason: 'the other side\u2019s connection is unstable' };
    return { grade: worst, reason: 'your upload is weak' };
  }
  if (RANK[other] >= RANK[own] && theirs) return { grade: worst, reason: 'the other side\u2019s connection is unstable' };
  if (mine && (mine.rtt_ms ?? 0) >= 300) return { grade: worst, reason: 'the connection has a long delay' };
  if (mine && ((mine.loss_in_pct ?? 0) >= 3 || (mine.jitter_ms ?? 0) >= 40)) {
    return { grade: worst, reason: 'the other side\u2019s connection is unstable' };
  }
  return { grade: worst, reason: 'video is off, audio continues' };
}

const round = (n, max) => (Number.isFinite(n) ? Math.min(max, Math.max(0, Math.round(n * 10) / 10)) : null);

/** The figures of one connection since the previous reading. */
export class Sampler {
  constructor() { this.prev = null; }

  /**
   * @param {{getStats: () => Promise<Map<string, object>>}} connection  a peer connection, or a LiveKit call's
   * @returns {Promise<{summary: object, available: number|null, fps: number, bandwidthLimited: boolean}|null>}
   */
  async read(connection, { mode, limited }) {
    let report;
    try { report = await connection.getStats(); } catch { return null; }
    if (!report) return null;
    const now = performance.now();
    let pair = null;
    let bytesIn = 0;
    let bytesOut = 0;
    let lost = 0;
    let received = 0;
    let jitter = null;
    let lossOut = null;
    let sent = null;
    let got = null;
    let bandwidthLimited = false;
    const transports = [];
    report.forEach((s) => {
      if (s.type === 'transport') transports.push(s);
      if (s.type === 'inbound-rtp') {
        bytesIn += s.bytesReceived ?? 0;
        lost += Math.max(0, s.packetsLost ?? 0);
        received += s.packetsReceived ?? 0;
        if (s.kind === 'audio' && s.jitter !== undefined) jitter = s.jitter * 1000;
        if (s.kind === 'video' && (s.framesPerSecond ?? 0) > 0) {
          got = { fps: s.framesPerSecond, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0 };
        }
      }
      if (s.type === 'outbound-rtp') {
        bytesOut += s.bytesSent ?? 0;
        if (s.kind === 'video') {
          bandwidthLimited = s.qualityLimitationReason === 'bandwidth';
          sent = { fps: s.framesPerSecond ?? 0, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0 };
        }
      }
      if (s.type === 'remote-inbound-rtp' && s.fractionLost !== undefined) {
        lossOut = Math.max(lossOut ?? 0, s.fractionLost * 100);
      }
    });
    const selected = transports.map((t) => report.get(t.selectedCandidatePairId)).find(Boolean);
    report.forEach((s) => {
      if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
    pair = selected ?? pair;
    const local = pair ? report.get(pair.localCandidateId) : null;
    const prev = this.prev;
    this.prev = { at: now, bytesIn, bytesOut, lost, received };
    const seconds = prev ? (now - prev.at) / 1000 : 0;
    const rate = (bytes, before) => (prev && seconds > 0 ? ((bytes - before) * 8) / 1000 / seconds : null);
    const dLost = prev ? lost - prev.lost : 0;
    const dReceived = prev ? received - prev.received : 0;
    const lossIn = prev && dLost + dReceived > 0 ? (100 * Math.max(0, dLost)) / (dLost + dReceived) : null;
    const kind = local?.candidateType;
    const summary = {
      rtt_ms: round(pair?.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : NaN, 60_000),
      jitter_ms: round(jitter ?? NaN, 60_000),
      loss_in_pct: round(lossIn ?? NaN, 100),
      loss_out_pct: round(lossOut ?? NaN, 100),
      kbps_in: round(rate(bytesIn, prev?.bytesIn) ?? NaN, 1_000_000),
      kbps_out: round(rate(bytesOut, prev?.bytesOut) ?? NaN, 1_000_000),
      sent: mode === 'video' && sent
        ? { fps: round(sent.fps, 240), width: Math.min(8192, sent.width), height: Math.min(8192, sent.height) } : null,
      received: got ? { fps: round(got.fps, 240), width: Math.min(8192, got.width), height: Math.min(8192, got.height) } : null,
      candidate: ['host', 'srflx', 'prflx', 'relay'].includes(kind) ? kind : null,
      mode,
      limited,
    };
    return {
      summary,
      available: pair?.availableOutgoingBitrate ?? null,
      fps: sent?.fps ?? 0,
      bandwidthLimited,
    };
  }
}

/**
 * Watches the call: summaries out, indicator, adaptation, screen sharing.
 * Returns the elements to place and a `destroy`.
 * @param {object} o
 * @param {import('./call.js').Call} o.call
 * @param {import('./socket.js').Signal} o.signal
 * @param {(allowed: boolean) => Promise<unknown>} [o.allowScreenShare]  the clinician's, in a LiveKit room: the patient's permission there
 */
export function watchQuality({ call, signal, allowScreenShare }) {
  const p2p = call.links instanceof Map;
  const indicator = h('span', { class: 'quality', 'data-testid': 'call-quality', dataset: { grade: 'good' } }, 'good \u2014 connecting');
  const mode = h('span', { class: 'mode', 'data-testid': 'call-mode' }, 'video');
  const badge = h('p', { class: 'call-quality', role: 'status', 'aria-live': 'polite' },
    'Connection: ', indicator, ' \u00b7 Mode: ', mode);
  const share = h('button', { type: 'button', class: 'control', 'data-testid': 'share-screen', 'aria-pressed': 'false', hidden: true }, 'Share screen');
  const allow = h('button', { type: 'button', class: 'control', 'data-testid': 'allow-share', 'aria-pressed': 'false', hidden: true }, 'Let others share');
  const controls = [share, allow];

  const sampler = new Sampler();
  const state = {
    level: 0, audioOnly: false, limited: false, down: 0, up: 0,
    retryMs: RETRY_MS, retryAt: 0, trial: 0, sharing: null,
    mine: null, theirs: new Map(), lastSent: 0, pendingSend: null,
    mode: null, modeSince: Date.now(), connectedAt: null,
  };
  call.adaptive = true;
  // Test and support hook: figures only.
  window.bedsideQuality = state;

  if (call.role === 'clinician') {
    share.hidden = false;
    allow.hidden = false;
  }

  function primaryLink() {
    if (!p2p) return null;
    return call.primary ?? [...call.links.values()].find((l) => l.state === 'connected') ?? null;
  }

  function modeWord() {
    const theirs = [...state.theirs.values()].some((s) => s.mode === 'audio_only');
    return !call.sendingVideo || state.audioOnly || theirs ? 'audio only' : 'video';
  }

  function show() {
    const theirs = primaryLink() ? state.theirs.get(primaryLink().id) : [...state.theirs.values()][0];
    const theirsLate = Boolean(theirs) && Date.now() - theirs.heardAt > LATE_MS;
    const settling = state.connectedAt === null || Date.now() - state.connectedAt < SETTLE_MS;
    const { grade: g, reason } = verdict(state.mine, theirs, { theirsLate, settling });
    const text = `${g} \u2014 ${reason}`;
    if (indicator.textContent !== text) indicator.textContent = text;
    indicator.dataset.grade = g;
    const word = modeWord();
    if (mode.textContent !== word) mode.textContent = word;
  }

  async function applyLevel(level) {
    state.level = level;
    const params = LEVELS[level];
    for (const link of call.links?.values() ?? []) {
      const sender = link.videoSender;
      if (!sender) continue;
      try {
        const p = sender.getParameters();
        if (!p.encodings || p.encodings.length === 0) p.encodings = [{}];
        Object.assign(p.encodings[0], params);
        await sender.setParameters(p);
      } catch { /* negotiating: the next sample tries again */ }
    }
  }

  /** The track the video sender should carry: the shared screen, else the camera. */
  function videoTrack() {
    if (state.sharing) return state.sharing;
    return call.stream.getVideoTracks().find((t) => t.readyState === 'live') ?? null;
  }

  async function toAudioOnly() {
    if (state.audioOnly) return;
    state.audioOnly = true;
    state.limited = true;
    state.retryAt = Date.now() + state.retryMs;
    state.retryMs = Math.min(RETRY_CAP_MS, state.retryMs * 2);
    if (call.sendAudioOnly) call.sendAudioOnly('bandwidth');
    sendNow();
  }

  /**
   * A trial of the smallest video while still counted as audio only: the
   * call says "video" again only once the upload carried it for a while.
   */
  async function tryVideo() {
    const track = videoTrack();
    if (!track) return;
    await applyLevel(LEVELS.length - 1);
    await Promise.all([...call.links.values()].map((l) => l.videoSender?.replaceTrack(track).catch(() => {})));
    state.trial = SUSTAIN + 1;
  }

  async function endTrial(carried) {
    state.trial = 0;
    if (!carried) {
      await Promise.all([...call.links.values()].map((l) => l.videoSender?.replaceTrack(null).catch(() => {})));
      state.retryAt = Date.now() + state.retryMs;
      state.retryMs = Math.min(RETRY_CAP_MS, state.retryMs * 2);
      return;
    }
    state.audioOnly = false;
    state.retryMs = RETRY_MS;
    call.sendingVideo = true;
    call.audioOnlyReason = null;
    call.emit('audio-only', null);
  }

  async function adapt(reading) {
    if (!p2p || state.sharing) return;
    const { available, fps, bandwidthLimited } = reading;
    const starved = bandwidthLimited && fps < 3;
    if (state.trial > 0) {
      state.trial -= 1;
      if (state.trial === 0) await endTrial(!starved && !(available !== null && available < TRIAL_FLOOR));
      return;
    }
    if (state.audioOnly) {
      if (call.audioOnlyReason === 'bandwidth' || call.audioOnlyReason === null) {
        if (Date.now() >= state.retryAt) await tryVideo();
      }
      return;
    }
    if (!call.sendingVideo) return;
    const last = LEVELS.length - 1;
    const tooLow = available !== null && available < DOWN[state.level];
    state.down = starved || tooLow ? state.down + 1 : 0;
    const roomy = available !== null && state.level > 0 && available > UP[state.level] && !bandwidthLimited;
    state.up = roomy ? state.up + 1 : 0;
    if (state.down >= SUSTAIN) {
      state.down = 0;
      if (state.level < last) await applyLevel(state.level + 1);
      else await toAudioOnly();
    } else if (state.up >= SUSTAIN) {
      state.up = 0;
      await applyLevel(state.level - 1);
    }
    state.limited = state.audioOnly || state.level > 0 || bandwidthLimited;
  }

  /** What this side sends, noted with when it last changed. */
  function currentMode() {
    const mode = state.audioOnly || !call.sendingVideo ? 'audio_only' : 'video';
    if (mode !== state.mode) {
      state.mode = mode;
      state.modeSince = Date.now();
    }
    return mode;
  }

  function sendNow() {
    currentMode();
    if (!state.mine) return;
    // Queued summaries would arrive in a burst after a reconnect: skip them.
    if (signal.state !== 'open') return;
    const wait = state.lastSent + MIN_GAP_MS - Date.now();
    clearTimeout(state.pendingSend);
    if (wait > 0) {
      state.pendingSend = setTimeout(sendNow, wait);
      return;
    }
    state.mine.mode = currentMode();
    // Summaries can be held up on a starved uplink: how long the mode has
    // held lets the server count the audio-only time from when it began.
    state.mine.mode_ms = Math.min(Date.now() - state.modeSince, 86_400_000);
    state.mine.limited = state.limited;
    if (state.mine.mode === 'audio_only') state.mine.sent = null;
    state.lastSent = Date.now();
    signal.send({ type: 'stats', ...state.mine });
    show();
  }

  /** What to read figures from: the main peer connection, or the LiveKit room's. */
  function statsSource() {
    if (!p2p) return typeof call.getStats === 'function' ? call : null;
    const link = primaryLink();
    return link?.state === 'connected' ? link.pc : null;
  }

  async function sample() {
    if (call.state !== 'connected') {
      state.connectedAt = null;
      return;
    }
    state.connectedAt ??= Date.now();
    const source = statsSource();
    if (!source) return;
    const reading = await sampler.read(source, {
      mode: currentMode(),
      limited: state.limited,
    });
    if (!reading) return;
    await adapt(reading);
    state.mine = reading.summary;
    state.available = reading.available;
    sendNow();
  }

  const timer = setInterval(sample, SAMPLE_MS);
  const offStats = signal.on('peer_stats', (f) => {
    const { type, from, ...summary } = f;
    state.theirs.set(from, { ...summary, heardAt: Date.now() });
    show();
  });
  const offShare = signal.on('screen_share', (f) => {
    if (call.role === 'clinician') return;
    // In a LiveKit room the clinician sends `allowed: true` only once the
    // room lets the patient publish a screen; guests are never let.
    share.hidden = call.role === 'guest' || !f.allowed;
    if (!f.allowed && state.sharing) stopSharing();
  });
  const allowing = () => call.role === 'clinician' && allow.getAttribute('aria-pressed') === 'true';
  // The permission is told once: whoever comes later hears it again. In a
  // LiveKit room the patient's permission lasts as long as its connection
  // to the room, so it is given again each time the patient joins it.
  const offJoined = signal.on('peer_joined', () => {
    if (p2p && allowing()) signal.send({ type: 'screen_share', allowed: true });
  });
  const onRoomJoined = (e) => {
    if (e.detail.role !== 'patient' || !allowing()) return;
    tellPermission(true).catch((error) => call.problem?.(`The patient could not be let share: ${error.message}`));
  };
  call.addEventListener('participant-joined', onRoomJoined);

  /** Tells the call whether others may share; in a LiveKit room, the room first. */
  async function tellPermission(allowed) {
    const frame = { type: 'screen_share', allowed };
    if (p2p || !allowScreenShare) { signal.send(frame); return; }
    // Withdrawing stops the patient's page at once; the room follows.
    if (!allowed) signal.send(frame);
    await allowScreenShare(allowed);
    if (allowed) signal.send(frame);
  }
  const onPeerLeft = (e) => { state.theirs.delete(e.detail); show(); };
  call.addEventListener('peer-left', onPeerLeft);
  const onAudioOnly = () => { currentMode(); show(); };
  call.addEventListener('audio-only', onAudioOnly);

  async function stopSharing() {
    const track = state.sharing;
    state.sharing = null;
    track?.stop();
    share.textContent = 'Share screen';
    share.setAttribute('aria-pressed', 'false');
    if (call.room) {
      await call.room.localParticipant.setScreenShareEnabled(false).catch(() => {});
      return;
    }
    const camera = !state.audioOnly && call.sendingVideo ? videoTrack() : null;
    await Promise.all([...(call.links?.values() ?? [])].map((l) => l.videoSender?.replaceTrack(camera).catch(() => {})));
  }

  share.addEventListener('click', async () => {
    if (state.sharing) { await stopSharing(); return; }
    try {
      if (call.room) {
        // A LiveKit room carries the screen as a track of its own.
        await call.room.localParticipant.setScreenShareEnabled(true);
        state.sharing = { stop() {} };
      } else {
        const screen = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false, preferCurrentTab: true });
        const track = screen.getVideoTracks()[0];
        state.sharing = track;
        track.addEventListener('ended', () => { if (state.sharing === track) stopSharing(); });
        await applyLevel(0);
        await Promise.all([...call.links.values()].map((l) => l.videoSender?.replaceTrack(track)));
      }
      share.textContent = 'Stop sharing';
      share.setAttribute('aria-pressed', 'true');
    } catch (error) {
      state.sharing = null;
      call.problem?.(`Screen sharing did not start: ${error.message}`);
    }
  });
  function showAllowing(allowed) {
    allow.setAttribute('aria-pressed', String(allowed));
    allow.textContent = allowed ? 'Stop others sharing' : 'Let others share';
  }
  allow.addEventListener('click', async () => {
    const allowed = allow.getAttribute('aria-pressed') !== 'true';
    showAllowing(allowed);
    try {
      await tellPermission(allowed);
    } catch (error) {
      // 409: the patient is not in the room yet; it is let share when it joins.
      if (allowed && error.status === 409) return;
      if (allowed) showAllowing(false);
      call.problem?.(`Screen sharing permission was not changed: ${error.message}`);
    }
  });

  return {
    badge,
    controls,
    destroy() {
      clearInterval(timer);
      clearTimeout(state.pendingSend);
      offStats();
      offShare();
      offJoined();
      call.removeEventListener('participant-joined', onRoomJoined);
      call.removeEventListener('peer-left', onPeerLeft);
      call.removeEventListener('audio-only', onAudioOnly);
      state.sharing?.stop();
    },
  };
}
