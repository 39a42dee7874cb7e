// A visit's call through its LiveKit room, for when the media plan says
// `livekit`: the same face as the peer-to-peer `Call` (state, the main
// remote stream, tiles for everyone else, mute, camera, leave), so the call
// view and the pages need not know which carries the media.
//
// The LiveKit client (web/vendor) is loaded only here, on first use.

import { Call } from './call.js';

const CLIENT = '/assets/vendor/livekit-client.esm.mjs';

/** Fields of a getStats() entry that name another entry of the same report. */
const STATS_REFERENCES = ['transportId', 'selectedCandidatePairId', 'localCandidateId', 'remoteCandidateId', 'codecId', 'remoteId', 'localId'];

/** Who a LiveKit identity is, as Bedside mints them: `patient-…`, `clinician-…`, `guest-…`. */
function roleOf(identity) {
  const role = String(identity).split('-')[0];
  return role === 'admin' ? 'clinician' : role;
}

/**
 * Several connections' getStats() reports as one: ids are prefixed per
 * connection, and so are the references between entries, which would
 * otherwise collide (each connection numbers its own).
 * @param {(RTCStatsReport|Map<string, object>|undefined)[]} reports
 * @returns {Map<string, object>}
 */
export function mergeReports(reports) {
  const merged = new Map();
  reports.forEach((report, i) => {
    report?.forEach((stat) => {
      const copy = { ...stat, id: `${i}:${stat.id}` };
      for (const key of STATS_REFERENCES) if (copy[key]) copy[key] = `${i}:${copy[key]}`;
      merged.set(copy.id, copy);
    });
  });
  return merged;
}

export class LiveKitCall extends EventTarget {
  /**
   * @param {object} options
   * @param {{url: string, token: string}} options.livekit  from `GET /visits/{id}/media`
   * @param {string} options.role  this browser's role: patient, clinician or guest
   * @param {MediaStream} options.stream  local media; may have no video or no audio
   * @param {() => Promise<object>} [options.refresh]  a fresh media plan: join tokens are short-lived
   */
  constructor({ livekit, role, stream, refresh }) {
    super();
    this.role = role;
    this.stream = stream ?? new MediaStream();
    this.remoteStream = new MediaStream();
    this.state = 'connecting';
    this.sendingVideo = this.stream.getVideoTracks().length > 0;
    this.audioOnlyReason = this.sendingVideo ? null : 'no-camera';
    this.remoteVideoFrames = 0;
    this.connectedAt = null;
    this.others = new Map();
    this.room = null;
    this.ready = this.#join(livekit, refresh);
  }

  // The room's own participant list rules; socket frames change nothing here.
  setPeer() {}
  peerLeft() {}
  rejoined() {}
  restartIce() {}

  setMuted(muted) {
    for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
  }

  setCameraOff(off) {
    for (const track of this.stream.getVideoTracks()) track.enabled = !off;
  }

  async resumeVideo() {
    return false;
  }

  /**
   * The figures of the room's peer connections (publisher and subscriber)
   * as one report, for the quality indicator.
   * @returns {Promise<Map<string, object>|null>}
   */
  async getStats() {
    const manager = this.room?.engine?.pcManager;
    const transports = [manager?.publisher, manager?.subscriber].filter(Boolean);
    const merged = mergeReports(await Promise.all(transports.map((t) => t.getStats())));
    return merged.size ? merged : null;
  }

  hangUp() {
    if (this.state === 'ended') return;
    this.room?.disconnect();
    this.#setState('ended');
  }

  /** The main other participant: staff for a patient or a guest, the patient for staff. */
  #isPrimary(identity) {
    const theirs = roleOf(identity);
    return this.role === 'patient' || this.role === 'guest'
      ? theirs === 'clinician'
      : theirs === 'patient';
  }

  async #join(plan, refresh) {
    const fresh = await refresh?.().catch(() => null);
    const { url, token } = fresh?.livekit ?? plan;
    let sdk;
    try {
      sdk = await import(CLIENT);
    } catch (error) {
      this.problem(`The call could not load: ${error.message}`);
      return;
    }
    const { Room, RoomEvent, ConnectionState } = sdk;
    const room = new Room({ adaptiveStream: true, dynacast: true });
    this.room = room;
    room.on(RoomEvent.ConnectionStateChanged, (state) => {
      if (state === ConnectionState.Connected) this.#setState('connected');
      else if (state === ConnectionState.Reconnecting || state === ConnectionState.SignalReconnecting) this.#setState('reconnecting');
    });
    room.on(RoomEvent.TrackSubscribed, (track, _publication, participant) => {
      const stream = this.#streamOf(participant.identity);
      stream.getTracks().filter((t) => t.kind === track.kind).forEach((t) => stream.removeTrack(t));
      stream.addTrack(track.mediaStreamTrack);
      if (this.#isPrimary(participant.identity)) {
        this.#emit('remote-track', track.mediaStreamTrack);
      } else {
        this.#emit('guest-track', { participant_id: participant.identity, display_name: participant.name, stream });
      }
    });
    // A shared screen that stops gives the place back to the camera.
    room.on(RoomEvent.TrackUnsubscribed, (track, _publication, participant) => {
      const stream = this.#streamOf(participant.identity);
      stream.removeTrack(track.mediaStreamTrack);
      const left = [...participant.trackPublications.values()]
        .find((p) => p.kind === track.kind && p.track && p.track !== track);
      if (!left) return;
      stream.addTrack(left.track.mediaStreamTrack);
      if (this.#isPrimary(participant.identity)) this.#emit('remote-track', left.track.mediaStreamTrack);
    });
    // Someone came into the room (again): the clinician's page gives a
    // patient back what its fresh join token lacks.
    room.on(RoomEvent.ParticipantConnected, (participant) => {
      this.#emit('participant-joined', { identity: participant.identity, role: roleOf(participant.identity) });
    });
    room.on(RoomEvent.ParticipantDisconnected, (participant) => {
      this.others.delete(participant.identity);
      this.#emit('peer-left', participant.identity);
    });
    room.on(RoomEvent.Disconnected, () => {
      if (this.state !== 'ended') this.#setState('reconnecting');
    });
    try {
      await room.connect(url, token);
      for (const track of this.stream.getTracks()) {
        await room.localParticipant.publishTrack(track);
      }
    } catch (error) {
      this.problem(`The call could not connect: ${error.message}`);
    }
  }

  #streamOf(identity) {
    if (this.#isPrimary(identity)) return this.remoteStream;
    let stream = this.others.get(identity);
    if (!stream) {
      stream = new MediaStream();
      this.others.set(identity, stream);
    }
    return stream;
  }

  #setState(state) {
    if (this.state === state || this.state === 'ended') return;
    this.state = state;
    if (state === 'connected' && !this.connectedAt) this.connectedAt = Date.now();
    this.#emit('state', state);
  }

  problem(text) {
    this.#emit('problem', text);
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

/**
 * The call for a media plan: the visit's LiveKit room, or peer-to-peer.
 * @param {object} plan  from `GET /visits/{id}/media`
 * @param {{signal: object, role: string, stream: MediaStream, refresh?: () => Promise<object>}} options
 */
export function callFor(plan, { signal, role, stream, refresh, mediaPending = false }) {
  if (plan?.mode === 'livekit' && plan.livekit) {
    return new LiveKitCall({ livekit: plan.livekit, role, stream, refresh });
  }
  return new Call({ signal, role, stream, iceServers: plan?.ice_servers ?? [], mediaPending });
}
