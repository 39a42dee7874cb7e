// A video call between browsers: peer-to-peer WebRTC signalled over the
// socket. With invited guests it is a mesh (four participants at most), one
// connection per other participant, each negotiated with the
// perfect-negotiation pattern, trickle ICE, ICE restarts after a network
// change or a failed path, and audio only when video cannot be sent (with
// `adaptive` set, web/lib/quality.js steps the video down and back up).
//
// Who yields on an offer collision: guests to everyone, the patient to
// staff, staff to no one; two guests by participant id. To keep collisions
// rare, whoever enters a call (and so learns of the others from `joined`)
// lets those already in it make the first offer.
//
// The socket only carries negotiation: once connected, media flows browser
// to browser, so a signaling outage never drops a call in progress.

const DISCONNECTED_GRACE_MS = 2_500;
const STATS_EVERY_MS = 1_000;
/** Seconds of starved outgoing video before falling back to audio only. */
const STARVED_SECONDS = 6;
/** The others a browser connects to: a mesh of four. */
const MAX_PEERS = 3;
/** How long a newcomer waits for the first offer before making its own. */
const FIRST_OFFER_WAIT_MS = 3_000;

const RANK = { guest: 0, patient: 1, clinician: 2, admin: 2, scheduler: 2 };

/** One connection to one other participant. */
class PeerLink {
  constructor(call, info, { awaitOffer = false } = {}) {
    this.call = call;
    this.id = info.participant_id;
    this.info = info;
    this.stream = new MediaStream();
    this.state = 'connecting';
    this.connectedAt = null;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.pendingCandidates = [];
    this.chain = Promise.resolve();
    this.starvedFor = 0;
    this.videoFrames = 0;
    this.awaitOffer = awaitOffer;

    const pc = new RTCPeerConnection({ iceServers: call.iceServers });
    this.pc = pc;
    // Media still opening, and the other side offers first: its offer's
    // transceivers become ours (a transceiver added here would not be
    // matched to its lines, and would cost a second offer and answer).
    this.adoptsOffer = call.mediaPending && awaitOffer;
    if (this.adoptsOffer) this.waitForFirstOffer();
    else this.addSenders();

    pc.onnegotiationneeded = () => {
      if (this.awaitOffer && !pc.remoteDescription) {
        this.waitForFirstOffer();
        return;
      }
      this.offer();
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate) this.send({ type: 'candidate', candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track }) => {
      for (const old of this.stream.getTracks().filter((t) => t.kind === track.kind)) {
        this.stream.removeTrack(old);
      }
      this.stream.addTrack(track);
      call.trackArrived(this, track);
    };
    pc.oniceconnectionstatechange = () => {
      const ice = pc.iceConnectionState;
      clearTimeout(this.graceTimer);
      if (ice === 'failed') this.restartIce('ice-failed');
      if (ice === 'disconnected') {
        this.graceTimer = setTimeout(() => {
          if (pc.iceConnectionState === 'disconnected') this.restartIce('ice-disconnected');
        }, DISCONNECTED_GRACE_MS);
      }
    };
    pc.onconnectionstatechange = () => {
      const s = pc.connectionState;
      if (s === 'connected') {
        this.state = 'connected';
        this.connectedAt ??= Date.now();
      } else if (s === 'disconnected' || s === 'failed') {
        this.state = 'reconnecting';
      } else if (s === 'connecting' || s === 'new') {
        this.state = this.connectedAt ? 'reconnecting' : 'connecting';
      }
      call.linkChanged();
    };
  }

  /** Our audio and video senders, with the tracks there are. */
  addSenders() {
    const { pc, call } = this;
    const { stream } = call;
    const audio = stream.getAudioTracks()[0];
    const video = stream.getVideoTracks()[0];
    if (audio) {
      this.audioSender = pc.addTrack(audio, stream);
    } else {
      // Media still opening will go out on this sender, without renegotiating.
      const direction = call.mediaPending ? 'sendrecv' : 'recvonly';
      this.audioSender = pc.addTransceiver('audio', { direction }).sender;
    }
    if (video && call.sendingVideo) {
      this.videoSender = pc.addTrack(video, stream);
    } else {
      this.videoSender = pc.addTransceiver('video', { direction: 'sendrecv' }).sender;
    }
  }

  /** Takes the first offer's audio and video lines as ours, sending both ways. */
  adoptOffer() {
    this.adoptsOffer = false;
    const { stream } = this.call;
    for (const transceiver of this.pc.getTransceivers()) {
      const kind = transceiver.receiver.track.kind;
      if (kind === 'audio' && !this.audioSender) this.audioSender = transceiver.sender;
      else if (kind === 'video' && !this.videoSender) this.videoSender = transceiver.sender;
      else continue;
      transceiver.direction = 'sendrecv';
      // Media that opened before the offer came goes out at once.
      const track = kind === 'audio' ? stream.getAudioTracks()[0]
        : this.call.sendingVideo ? stream.getVideoTracks()[0] : null;
      if (track) transceiver.sender.replaceTrack(track).catch(() => {});
    }
  }

  /** The other side offers first; make our own only if it never does. */
  waitForFirstOffer() {
    clearTimeout(this.firstOfferTimer);
    this.firstOfferTimer = setTimeout(() => {
      this.awaitOffer = false;
      if (this.closed || this.pc.remoteDescription) return;
      if (this.adoptsOffer) {
        // No offer to adopt: our own senders, whose negotiation offers.
        this.adoptsOffer = false;
        this.addSenders();
      } else {
        this.offer();
      }
    }, FIRST_OFFER_WAIT_MS);
  }

  /** Whether this side yields when both offer at once. */
  get polite() {
    const mine = RANK[this.call.role] ?? 1;
    const theirs = RANK[this.info.role] ?? 1;
    if (mine !== theirs) return mine < theirs;
    return String(this.call.signal.participantId ?? '') < String(this.id);
  }

  async offer() {
    const { pc } = this;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      // A remote offer may have rolled ours back meanwhile: send only a live one.
      if (pc.signalingState === 'have-local-offer') {
        this.send({ type: 'offer', sdp: pc.localDescription.sdp });
      }
    } catch (error) {
      this.call.problem(`Could not start the call: ${error.message}`);
    } finally {
      this.makingOffer = false;
    }
  }

  send(frame) {
    if (this.closed) return;
    this.call.signal.send({ ...frame, to: this.id });
  }

  restartIce(reason) {
    if (this.closed || this.pc.signalingState === 'closed') return;
    this.awaitOffer = false;
    this.call.emit('ice-restart', reason);
    this.pc.restartIce();
  }

  onDescription(description) {
    const { pc } = this;
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswer);
      const collision = description.type === 'offer' && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.settingRemoteAnswer = description.type === 'answer';
      await pc.setRemoteDescription(description);
      this.settingRemoteAnswer = false;
      this.awaitOffer = false;
      clearTimeout(this.firstOfferTimer);
      for (const candidate of this.pendingCandidates.splice(0)) {
        await pc.addIceCandidate(candidate).catch(() => {});
      }
      if (description.type === 'offer') {
        if (this.adoptsOffer) this.adoptOffer();
        await pc.setLocalDescription();
        this.send({ type: 'answer', sdp: pc.localDescription.sdp });
      }
    }).catch((error) => {
      this.settingRemoteAnswer = false;
      this.call.problem(`Negotiation failed: ${error.message}`);
    });
  }

  onCandidate(candidate) {
    const { pc } = this;
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      if (!pc.remoteDescription) {
        this.pendingCandidates.push(candidate);
        return;
      }
      try {
        await pc.addIceCandidate(candidate);
      } catch (error) {
        if (!this.ignoreOffer) this.call.problem(`A network route was refused: ${error.message}`);
      }
    });
  }

  close() {
    this.closed = true;
    clearTimeout(this.graceTimer);
    clearTimeout(this.firstOfferTimer);
    const { pc } = this;
    pc.onnegotiationneeded = pc.onicecandidate = pc.ontrack = null;
    pc.oniceconnectionstatechange = pc.onconnectionstatechange = null;
    pc.close();
    for (const track of this.stream.getTracks()) this.stream.removeTrack(track);
  }
}

export class Call extends EventTarget {
  /**
   * @param {object} options
   * @param {import('./socket.js').Signal} options.signal
   * @param {string} options.role  this browser's role: patient, clinician or guest
   * @param {RTCIceServer[]} options.iceServers
   * @param {MediaStream} options.stream  local media; may have no video or no audio
   * @param {boolean} [options.mediaPending]  the camera and microphone are
   *   still opening: the call connects meanwhile, and `mediaArrived()` sends them
   */
  constructor({ signal, role, iceServers, stream, mediaPending = false }) {
    super();
    this.signal = signal;
    this.role = role;
    this.iceServers = iceServers ?? [];
    this.stream = stream ?? new MediaStream();
    this.mediaPending = mediaPending;
    /** The main other participant's media (the clinician, or the patient). */
    this.remoteStream = new MediaStream();
    this.links = new Map();
    this.state = 'connecting'; // connecting | connected | reconnecting | ended
    this.sendingVideo = this.stream.getVideoTracks().length > 0;
    this.audioOnlyReason = this.sendingVideo || mediaPending ? null : 'no-camera';
    this.remoteVideoFrames = 0;
    this.connectedAt = null;
    this.offs = [
      signal.on('offer', (f) => this.#onDescription(f.from, { type: 'offer', sdp: f.sdp })),
      signal.on('answer', (f) => this.#onDescription(f.from, { type: 'answer', sdp: f.sdp })),
      signal.on('candidate', (f) => this.links.get(f.from)?.onCandidate(f.candidate)),
    ];
    this.onNetworkChange = () => this.restartIce('network-change');
    addEventListener('online', this.onNetworkChange);
    navigator.connection?.addEventListener?.('change', this.onNetworkChange);
    this.statsTimer = setInterval(() => this.#sampleStats(), STATS_EVERY_MS);
    for (const track of this.stream.getVideoTracks()) {
      track.addEventListener('ended', () => this.#fallBackToAudio('camera-lost'));
    }
  }

  /** The main other participant's link: staff for a patient or a guest, the patient for staff. */
  get primary() {
    const links = [...this.links.values()];
    const main = this.role === 'patient' || this.role === 'guest'
      ? (l) => l.info.role !== 'guest' && l.info.role !== 'patient'
      : (l) => l.info.role === 'patient';
    return links.find(main) ?? null;
  }

  /**
   * Someone is in the call: from `peer_joined` (they just came; we offer)
   * or, with `awaitOffer`, from `joined` (they were here first; they offer).
   */
  setPeer(info, { awaitOffer = false } = {}) {
    if (this.state === 'ended') return;
    const known = this.links.get(info.participant_id);
    if (known) {
      known.info = { ...known.info, ...info };
      return;
    }
    if (this.links.size >= MAX_PEERS) {
      this.problem('The call is full.');
      return;
    }
    const link = new PeerLink(this, info, { awaitOffer });
    this.links.set(link.id, link);
    this.emit('peer', info);
    this.linkChanged();
  }

  /** `peer_left`: that participant is gone for good. */
  peerLeft(participantId) {
    const link = this.links.get(participantId);
    if (!link) return;
    const wasPrimary = link === this.primary;
    link.close();
    this.links.delete(participantId);
    if (wasPrimary) {
      for (const track of this.remoteStream.getTracks()) this.remoteStream.removeTrack(track);
    }
    this.emit('peer-left', participantId);
    this.linkChanged();
  }

  /** On `joined` (first or after our socket came back): who is in the call. */
  rejoined(participants) {
    const present = new Set(participants.map((p) => p.participant_id));
    for (const id of [...this.links.keys()]) {
      if (!present.has(id)) this.peerLeft(id);
    }
    for (const p of participants) {
      const link = this.links.get(p.participant_id);
      if (!link) {
        this.setPeer(p, { awaitOffer: true });
      } else if (!['connected', 'completed'].includes(link.pc.iceConnectionState)) {
        // The media path never depended on the socket; mend it only if it broke.
        link.restartIce('socket-resumed');
      }
    }
  }

  restartIce(reason) {
    if (this.state === 'ended') return;
    for (const link of this.links.values()) link.restartIce(reason);
  }

  setMuted(muted) {
    for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
  }

  setCameraOff(off) {
    for (const track of this.stream.getVideoTracks()) track.enabled = !off;
  }

  /**
   * The camera and microphone opened after the call began (they are in
   * `stream` now): they go out on the senders the connection already has,
   * so connecting never waited for them.
   */
  async mediaArrived() {
    if (!this.mediaPending || this.state === 'ended') return;
    this.mediaPending = false;
    const audio = this.stream.getAudioTracks()[0] ?? null;
    const video = this.stream.getVideoTracks()[0] ?? null;
    await Promise.all([...this.links.values()].map((l) => Promise.all([
      audio && l.audioSender?.replaceTrack(audio).catch(() => {}),
      video && l.videoSender?.replaceTrack(video).catch(() => {}),
    ])));
    if (video) {
      video.addEventListener('ended', () => this.#fallBackToAudio('camera-lost'));
      this.sendingVideo = true;
      this.audioOnlyReason = null;
      this.emit('audio-only', null);
    } else {
      this.audioOnlyReason = 'no-camera';
      this.emit('audio-only', 'no-camera');
    }
    this.emit('local-media', null);
  }

  /** Tries sending video again after a fallback to audio only. */
  async resumeVideo() {
    const track = this.stream.getVideoTracks().find((t) => t.readyState === 'live');
    if (!track || this.links.size === 0) return false;
    await Promise.all([...this.links.values()].map((l) => l.videoSender?.replaceTrack(track)));
    this.sendingVideo = true;
    this.audioOnlyReason = null;
    for (const link of this.links.values()) link.starvedFor = 0;
    this.emit('audio-only', null);
    return true;
  }

  /** Stops sending video (the transceiver stays), e.g. when the upload cannot carry it. */
  sendAudioOnly(reason) {
    this.#fallBackToAudio(reason);
  }

  /** Ends the call for this browser. */
  hangUp() {
    if (this.state === 'ended') return;
    for (const link of this.links.values()) link.close();
    this.links.clear();
    for (const off of this.offs) off();
    removeEventListener('online', this.onNetworkChange);
    navigator.connection?.removeEventListener?.('change', this.onNetworkChange);
    clearInterval(this.statsTimer);
    this.#setState('ended');
  }

  emit(type, detail) {
    // Only states and reasons: never names or anything about the patient.
    if (typeof detail === 'string' || detail === null) console.debug(`call ${type}`, detail);
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  problem(text) {
    this.emit('problem', text);
  }

  /** A remote track arrived on `link`. */
  trackArrived(link, track) {
    if (link === this.primary) {
      for (const old of this.remoteStream.getTracks().filter((t) => t.kind === track.kind)) {
        this.remoteStream.removeTrack(old);
      }
      this.remoteStream.addTrack(track);
      this.emit('remote-track', track);
    } else {
      this.emit('guest-track', { participant_id: link.id, display_name: link.info.display_name, stream: link.stream });
    }
  }

  /** The call's state follows its main connection; without one, any. */
  linkChanged() {
    const main = this.primary;
    const states = main ? [main.state] : [...this.links.values()].map((l) => l.state);
    const state = states.includes('connected') ? 'connected'
      : states.includes('reconnecting') ? 'reconnecting' : 'connecting';
    this.#setState(state);
  }

  #setState(state) {
    if (this.state === state || this.state === 'ended') return;
    this.state = state;
    if (state === 'connected' && !this.connectedAt) this.connectedAt = Date.now();
    this.emit('state', state);
  }

  /** Perfect negotiation, per link. An offer from someone new opens a link. */
  #onDescription(from, description) {
    if (this.state === 'ended') return;
    if (!this.links.has(from)) {
      if (description.type !== 'offer') return;
      this.setPeer({ participant_id: from, role: null, display_name: '' });
    }
    this.links.get(from)?.onDescription(description);
  }

  #fallBackToAudio(reason) {
    if (!this.sendingVideo) return;
    this.sendingVideo = false;
    this.audioOnlyReason = reason;
    for (const link of this.links.values()) link.videoSender?.replaceTrack(null).catch(() => {});
    this.emit('audio-only', reason);
  }

  async #sampleStats() {
    if (this.state !== 'connected') return;
    let primaryStats = null;
    for (const link of this.links.values()) {
      if (link.state !== 'connected') continue;
      let report;
      try { report = await link.pc.getStats(); } catch { continue; }
      let inbound = null;
      let outbound = null;
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
        if (s.type === 'outbound-rtp' && s.kind === 'video') outbound = s;
      });
      link.videoFrames = inbound?.framesDecoded ?? 0;
      // Video that cannot get out (a starved uplink) takes the audio down
      // with it: after a few seconds of it, send audio only.
      if (outbound && this.sendingVideo && !this.adaptive) {
        const starved = outbound.qualityLimitationReason === 'bandwidth' && (outbound.framesPerSecond ?? 0) < 2;
        link.starvedFor = starved ? link.starvedFor + STATS_EVERY_MS / 1000 : 0;
        if (link.starvedFor >= STARVED_SECONDS) this.#fallBackToAudio('bandwidth');
      }
      if (link === this.primary) primaryStats = { inbound, outbound };
    }
    this.remoteVideoFrames = this.primary?.videoFrames ?? 0;
    this.emit('stats', primaryStats ?? { inbound: null, outbound: null });
  }
}
