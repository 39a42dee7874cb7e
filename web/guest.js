// An invited guest's page (an interpreter, a family member), from the link
// the clinic sent: a camera check, then waiting until the clinician lets
// the guest in, then the call with everyone in it.

import { apiClient } from './lib/api.js';
import { $, h } from './lib/dom.js';
import { showSection, visitLink } from './lib/visitlink.js';
import { openDevices, stopStream } from './lib/devices.js';
import { Signal } from './lib/socket.js';
import { callFor } from './lib/livekit.js';
import { mountCall } from './lib/callview.js';

const { visitId, token, forget: forgetToken } = visitLink('guest');
const api = apiClient(() => token);

const page = { stream: null, signal: null, call: null, view: null, media: null };
window.__bedside = {
  get signal() { return page.signal; },
  get call() { return page.call; },
};


function end(title, text, { forget = false } = {}) {
  page.call?.hangUp();
  page.view?.destroy();
  $('#call-root').replaceChildren();
  page.call = null;
  page.view = null;
  page.signal?.close();
  stopStream(page.stream);
  page.stream = null;
  $('#end-title').textContent = title;
  $('#end-text').textContent = text;
  if (forget) forgetToken();
  document.title = `${title} — Bedside`;
  showSection('end');
}

const ENDED = {
  closed: ['The visit has ended', 'Thank you for joining. You can close this page.'],
  cancelled: ['This visit was cancelled', 'Please contact the clinic if you were expecting it.'],
  no_show: ['This visit was closed', 'Please contact the clinic if you were expecting it.'],
};

async function checkDevices() {
  const { stream, problem } = await openDevices();
  page.stream = stream;
  const preview = $('#preview');
  preview.srcObject = stream;
  const hasVideo = Boolean(stream?.getVideoTracks().length);
  preview.hidden = !hasVideo;
  $('#preview-empty').hidden = hasVideo;
  $('#device-problem').hidden = !problem;
  if (problem) {
    $('#problem-title').textContent = problem.title;
    $('#problem-steps').replaceChildren(...problem.steps.map((s) => h('li', {}, s)));
  }
}

function startCall(participants) {
  if (!page.call) {
    page.call = callFor(page.media, { signal: page.signal, role: 'guest', stream: page.stream ?? new MediaStream() });
    showSection('call');
    page.view = mountCall($('#call-root'), {
      call: page.call,
      signal: page.signal,
      remoteLabel: 'The clinician',
      onLeave: () => {
        page.signal?.send({ type: 'leave' });
        end('You left the call', 'If you left by mistake, open your invitation link again.');
      },
    });
    document.title = 'Video visit — Bedside';
  }
  page.call.rejoined(participants);
}

async function waitToBeLetIn() {
  showSection('waiting');
  const signal = new Signal(token);
  page.signal = signal;
  let inCall = false;
  // The call's media plan opens to a guest once let in; with it in hand the
  // call starts the moment `joined` arrives, before any offer can be missed.
  const askToJoin = async () => {
    if (inCall) return;
    try {
      page.media = await api(`/visits/${encodeURIComponent(visitId)}/media`);
    } catch {
      return; // not let in yet
    }
    if (!inCall) signal.send({ type: 'join', visit_id: visitId });
  };
  signal.addEventListener('state', (e) => {
    $('#waiting-signal').textContent = e.detail === 'reconnecting' ? 'Reconnecting to the clinic…' : '';
  });
  signal.addEventListener('welcome', (e) => {
    if (!e.detail.resumed) {
      inCall = false;
      askToJoin();
    }
  });
  // Refused until the clinician lets this guest in; the visit's frames say when to ask again.
  signal.on('error', (f) => {
    if (f.code === 'not_found') end('This link no longer works', 'Please ask the clinic for a new invitation.', { forget: true });
  });
  signal.on('visit', (f) => {
    if (ENDED[f.status]) {
      const [title, text] = ENDED[f.status];
      end(title, text, { forget: true });
    } else if (f.status === 'in_consult') {
      askToJoin();
    }
  });
  signal.on('joined', (f) => {
    inCall = true;
    startCall(f.participants);
  });
  signal.on('peer_joined', (f) => page.call?.setPeer(f));
  signal.on('peer_left', (f) => {
    if (f.reason === 'room_closed') end(...ENDED.closed);
    else page.call?.peerLeft(f.participant_id);
  });
  signal.addEventListener('failed', () => end('This link no longer works', 'Please ask the clinic for a new invitation.', { forget: true }));
  try {
    await signal.connect();
  } catch {
    end('This link no longer works', 'Please ask the clinic for a new invitation.', { forget: true });
  }
}

$('#device-continue').addEventListener('click', waitToBeLetIn);

async function load() {
  if (!visitId || !token) {
    end('This link is incomplete', 'Open the link from your invitation again.');
    return;
  }
  let me;
  try {
    me = await api('/guests/me');
  } catch (e) {
    if (e.status === 401 || e.status === 403 || e.status === 404) {
      end('This link no longer works', 'It may have expired. Please ask the clinic for a new invitation.', { forget: true });
    } else {
      end('The clinic could not be reached', 'Check your internet connection and reload this page.');
    }
    return;
  }
  if (ENDED[me.visit_status]) {
    const [title, text] = ENDED[me.visit_status];
    end(title, text, { forget: true });
    return;
  }
  $('#guest-name').textContent = me.guest.display_name;
  showSection('device');
  await checkDevices();
}

load();
