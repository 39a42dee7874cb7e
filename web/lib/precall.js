// The pre-call check: this browser against Bedside's own WebRTC peer, over
// the ICE servers the call will use. The server measures (round trip, loss,
// upload) and judges; this side echoes its pings, uploads when asked, and
// hands back the stored result.
//
// Signalling is one request: the offer goes out with every candidate
// gathered, and the answer comes back with every one of the server's.

const GATHER_MS = 5_000;
const CHECK_MS = 40_000;
const CHUNK = new Uint8Array(1200);
const HIGH_WATER = 1 << 20;

/** Waits for ICE gathering to finish, or `ms` at most. */
function gathered(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== 'complete') return;
      pc.removeEventListener('icegatheringstatechange', done);
      resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, ms);
  });
}

/** Sends probe chunks for `ms`, keeping the send buffer bounded. */
async function upload(probe, control, ms) {
  const until = performance.now() + ms;
  probe.bufferedAmountLowThreshold = HIGH_WATER / 2;
  while (performance.now() < until && probe.readyState === 'open') {
    if (probe.bufferedAmount > HIGH_WATER) {
      await new Promise((resolve) => {
        probe.addEventListener('bufferedamountlow', resolve, { once: true });
        setTimeout(resolve, 100);
      });
      continue;
    }
    probe.send(CHUNK);
  }
  if (control.readyState === 'open') control.send(JSON.stringify({ t: 'upload_done' }));
}

/**
 * Runs one check. Resolves with the server's result; rejects with the API's
 * error (e.g. `status` 503 when the server is running as many as it allows).
 * @param {{api: Function, visitId: string, iceServers: RTCIceServer[]}} options
 */
export async function runPrecallCheck({ api, visitId, iceServers }) {
  const pc = new RTCPeerConnection({ iceServers });
  try {
    const control = pc.createDataChannel('precall-control');
    const probe = pc.createDataChannel('precall-probe', { ordered: false, maxRetransmits: 0 });
    probe.binaryType = 'arraybuffer';
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, GATHER_MS);
    const path = `/visits/${encodeURIComponent(visitId)}/precall`;
    const started = await api(path, { method: 'POST', body: { type: 'offer', sdp: pc.localDescription.sdp } });
    const result = new Promise((resolve) => {
      probe.addEventListener('message', (event) => {
        if (typeof event.data === 'string' && probe.readyState === 'open') probe.send(event.data);
      });
      control.addEventListener('message', (event) => {
        const message = JSON.parse(event.data);
        if (message.t === 'upload') upload(probe, control, message.ms);
        if (message.t === 'result') {
          control.send(JSON.stringify({ t: 'bye' }));
          resolve(message.result);
        }
      });
    });
    await pc.setRemoteDescription(started.answer);
    const timedOut = new Promise((resolve) => setTimeout(resolve, CHECK_MS, null));
    // Without a result on the channel (it never opened), the server has
    // stored its own verdict: read that.
    return (await Promise.race([result, timedOut])) ?? await api(path);
  } finally {
    pc.close();
  }
}

/** Plain words for a verdict. */
export const VERDICT_LABEL = {
  good: 'Good',
  fair: 'Fair',
  poor: 'Weak',
  failed: 'Not connected',
};
