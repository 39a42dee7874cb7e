// The call on screen, shared by the patient page and the clinician console:
// both videos, the connection state, mute, camera off, chat and leave.

import { h, clock } from './dom.js';
import { watchQuality } from './quality.js';

/** The contract's words for `call-state`: waiting, connecting, connected, ended. */
const CONTRACT_STATE = { connecting: 'connecting', reconnecting: 'connecting', connected: 'connected', ended: 'ended' };
const DETAIL = {
  connecting: 'Connecting the call\u2026',
  reconnecting: 'The connection dropped. Reconnecting\u2026',
  connected: 'Connected',
  ended: 'The call has ended',
};

/**
 * Mounts the call UI into `root`.
 * @param {object} o
 * @param {import('./call.js').Call} o.call
 * @param {import('./socket.js').Signal} o.signal
 * @param {string} o.remoteLabel   e.g. "Your clinician"
 * @param {() => void} [o.onLeave]  shows a Leave button when given
 * @param {{label: string, testid: string}} [o.leave]  that button's words and test hook
 * @param {string} [o.heading]  the chat heading's element, one below the page's: `h2` under a page's `h1`
 * @param {() => Promise<object[]>} [o.loadMessages]  the chat kept so far (`GET /visits/{id}/messages`)
 * @param {(allowed: boolean) => Promise<unknown>} [o.allowScreenShare]  the clinician's: the patient's permission in a LiveKit room (`PUT /visits/{id}/screen-share`)
 */
export function mountCall(root, {
  call, signal, remoteLabel, onLeave, leave = { label: 'Leave call', testid: 'leave' }, heading = 'h2', loadMessages, allowScreenShare,
}) {
  const names = new Map();
  const remoteVideo = h('video', {
    'data-testid': 'remote-video', class: 'remote', autoplay: true, playsInline: true,
    'aria-label': `${remoteLabel}\u2019s video`,
  });
  remoteVideo.srcObject = call.remoteStream;
  const localVideo = h('video', {
    'data-testid': 'local-video', class: 'self', autoplay: true, playsInline: true, muted: true,
    'aria-label': 'Your video',
  });
  localVideo.muted = true;
  localVideo.srcObject = call.stream;
  const placeholder = h('p', { class: 'placeholder' }, `Waiting for ${remoteLabel.toLowerCase()}\u2019s video\u2026`);
  const stateWord = h('span', { 'data-testid': 'call-state', class: 'state-word' }, 'connecting');
  const stateDetail = h('span', { class: 'state-detail' }, DETAIL.connecting);
  const signalNote = h('span', { class: 'signal-note', 'data-testid': 'signal-state' });
  const status = h('p', { class: 'call-status', role: 'status', 'aria-live': 'polite', dataset: { state: 'connecting' } },
    h('span', { class: 'dot', 'aria-hidden': 'true' }), stateWord, ' \u00b7 ', stateDetail, ' ', signalNote);
  const notice = h('p', { class: 'notice', role: 'status', 'aria-live': 'polite', hidden: true });

  const muteButton = h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'mute', class: 'control' }, 'Mute');
  const cameraButton = h('button', { type: 'button', 'aria-pressed': 'false', 'data-testid': 'camera', class: 'control' }, 'Camera off');
  const videoAgain = h('button', { type: 'button', class: 'control', hidden: true }, 'Try video again');
  muteButton.addEventListener('click', () => {
    const muted = muteButton.getAttribute('aria-pressed') !== 'true';
    call.setMuted(muted);
    muteButton.setAttribute('aria-pressed', String(muted));
    muteButton.textContent = muted ? 'Unmute' : 'Mute';
  });
  cameraButton.addEventListener('click', () => {
    const off = cameraButton.getAttribute('aria-pressed') !== 'true';
    call.setCameraOff(off);
    cameraButton.setAttribute('aria-pressed', String(off));
    cameraButton.textContent = off ? 'Camera on' : 'Camera off';
    localVideo.classList.toggle('off', off);
  });
  videoAgain.addEventListener('click', async () => {
    if (await call.resumeVideo()) videoAgain.hidden = true;
  });
  if (!call.sendingVideo) cameraButton.disabled = true;
  if (call.stream.getAudioTracks().length === 0) muteButton.disabled = true;

  const quality = watchQuality({ call, signal, allowScreenShare });
  const controls = h('div', { class: 'controls', role: 'toolbar', 'aria-label': 'Call controls' },
    quality.badge, muteButton, cameraButton, videoAgain, ...quality.controls);
  if (onLeave) {
    controls.append(h('button', { type: 'button', class: 'control danger', 'data-testid': leave.testid, onclick: onLeave }, leave.label));
  }

  const log = h('ol', { class: 'chat-log', 'data-testid': 'chat-log', 'aria-live': 'polite', 'aria-label': 'Messages' });
  const input = h('input', { id: 'chat-input', name: 'message', autocomplete: 'off', maxlength: 2000, 'data-testid': 'chat-input', required: true });
  const form = h('form', { class: 'chat-form' },
    h('label', { for: 'chat-input', class: 'visually-hidden' }, 'Message'),
    input,
    h('button', { type: 'submit', 'data-testid': 'chat-send' }, 'Send'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    signal.send({ type: 'chat', text });
    sentHere.push(text);
    addMessage('You', text, new Date().toISOString(), true);
    input.value = '';
  });
  const chat = h('section', { class: 'chat', 'aria-labelledby': 'chat-title' },
    h(heading, { id: 'chat-title' }, 'Chat'), log, form);

  function message(who, text, at, mine) {
    return h('li', { class: mine ? 'mine' : 'theirs' },
      h('span', { class: 'who' }, who), ' ', h('time', { datetime: at }, clock(at)), h('p', {}, text));
  }
  function addMessage(who, text, at, mine = false) {
    log.append(message(who, text, at, mine));
    log.scrollTop = log.scrollHeight;
  }

  // The chat kept in the visit's record comes back when the view mounts
  // (after a reload, or on another device). A message can be both kept and
  // heard live while the list loads, or be one typed here meanwhile: those
  // are shown once. A live frame and its kept copy share sender, second and text.
  const heardLive = new Map();
  const sentHere = [];
  const liveKey = (from, at, text) => `${from}|${Math.floor(Date.parse(at) / 1000)}|${text}`;
  let mounted = true;
  async function showKept() {
    let kept;
    try { kept = await loadMessages(); } catch { return; }
    if (!mounted || !Array.isArray(kept)) return;
    const earlier = [];
    for (const m of kept) {
      const key = liveKey(m.participant_id, m.at, m.text);
      if (heardLive.get(key) > 0) { heardLive.set(key, heardLive.get(key) - 1); continue; }
      const typed = m.mine ? sentHere.indexOf(m.text) : -1;
      if (typed >= 0) { sentHere.splice(typed, 1); continue; }
      earlier.push(message(m.mine ? 'You' : m.sender.display_name, m.text, m.at, m.mine));
    }
    log.prepend(...earlier);
    log.scrollTop = log.scrollHeight;
  }

  const stage = h('div', { class: 'stage' }, remoteVideo, placeholder, localVideo, status);
  // Everyone else in a group call (guests, or the patient for a guest): one tile each.
  const others = h('ul', { class: 'others', 'aria-label': 'Others in the call', hidden: true });
  const tiles = new Map();
  function showOther({ participant_id: id, display_name: name, stream }) {
    let tile = tiles.get(id);
    if (!tile) {
      const video = h('video', { autoplay: true, playsInline: true, 'data-testid': `other-video-${id}` });
      tile = h('li', { class: 'other' }, video, h('span', { class: 'who' }, name || 'Guest'));
      tile.video = video;
      tiles.set(id, tile);
      others.append(tile);
    }
    if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
    tile.video.play().catch(() => {});
    others.hidden = false;
  }
  function dropOther(id) {
    const tile = tiles.get(id);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.remove();
    tiles.delete(id);
    others.hidden = tiles.size === 0;
  }
  root.replaceChildren(h('div', { class: 'call' }, stage, others, notice, controls, chat));

  function showState(state) {
    stateWord.textContent = CONTRACT_STATE[state] ?? 'connecting';
    stateDetail.textContent = DETAIL[state] ?? '';
    status.dataset.state = state;
  }
  function showNotice(text) {
    notice.hidden = !text;
    notice.textContent = text ?? '';
  }
  function showSignal(state) {
    signalNote.textContent = state === 'reconnecting' || state === 'connecting'
      ? '(the server connection is being restored; the call continues)'
      : '';
  }

  const listeners = [
    [call, 'state', (e) => showState(e.detail)],
    [call, 'peer', (e) => names.set(e.detail.participant_id, e.detail.display_name || remoteLabel)],
    [call, 'remote-track', () => { remoteVideo.play().catch(() => {}); }],
    [call, 'guest-track', (e) => showOther(e.detail)],
    [call, 'peer-left', (e) => dropOther(e.detail)],
    [call, 'audio-only', (e) => {
      const reason = e.detail;
      cameraButton.disabled = !call.sendingVideo;
      if (reason === 'bandwidth') {
        showNotice('Your connection is weak, so the call continues with audio only.');
        videoAgain.hidden = false;
      } else if (reason === 'camera-lost') {
        showNotice('Your camera stopped, so the call continues with audio only.');
      } else if (reason === 'no-camera') {
        showNotice('Your camera is not available: the call is audio only.');
      } else {
        showNotice(null);
      }
    }],
    [call, 'local-media', () => {
      localVideo.srcObject = call.stream;
      muteButton.disabled = call.stream.getAudioTracks().length === 0;
      cameraButton.disabled = !call.sendingVideo;
    }],
    [call, 'stats', () => { placeholder.hidden = call.remoteVideoFrames > 0 && remoteVideo.videoWidth > 0; }],
    [call, 'problem', (e) => console.warn(e.detail)],
    [signal, 'state', (e) => showSignal(e.detail)],
  ];
  for (const [target, type, fn] of listeners) target.addEventListener(type, fn);
  const offChat = signal.on('chat', (f) => {
    const key = liveKey(f.from, f.at, f.text);
    heardLive.set(key, (heardLive.get(key) ?? 0) + 1);
    addMessage(names.get(f.from) || remoteLabel, f.text, f.at);
  });
  // Delivered, but the server could not keep it in the visit's record.
  const offError = signal.on('error', (f) => {
    if (f.code === 'not_recorded') showNotice('Your last message reached the call but could not be saved to the visit record. Please repeat anything important.');
  });
  if (loadMessages) showKept();
  if (call.audioOnlyReason === 'no-camera') showNotice('Your camera is not available: the call is audio only.');
  showState(call.state);

  return {
    setWaiting() {
      stateWord.textContent = 'waiting';
      stateDetail.textContent = 'Waiting to be admitted';
    },
    remoteVideo,
    destroy() {
      for (const [target, type, fn] of listeners) target.removeEventListener(type, fn);
      offChat();
      offError();
      quality.destroy();
      mounted = false;
      remoteVideo.srcObject = null;
      localVideo.srcObject = null;
      for (const id of [...tiles.keys()]) dropOther(id);
    },
  };
}
