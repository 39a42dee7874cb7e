// One video call between two browsers: peer-to-peer WebRTC signalled over
// the socket, with the perfect-negotiation pattern (the patient is the
// polite peer), trickle ICE, ICE restarts after a network change or a
// failed path, and audio only when video cannot be sent.
//
// The socket only carries negotiation: once connected, media flows browser
// to browser, so a signaling outage never drops a call in progress.

const DISCONNECTED_GRACE_MS = 2_500;
const STATS_EVERY_MS = 1_000;
/** Seconds of starved outgoing video before falling back to audio only. */
const STARVED_SECONDS = 6;

export class Call extends EventTarget {
  /**
   * @param {object} options
   * @param {import('./socket.js').Signal} options.signal
   * @param {boolean} options.polite
   * @param {RTCIceServer[]} options.iceServers
   * @param {MediaStream} options.stream  local media; may have no video or no audio
   */
  constructor({ signal, polite, iceServers, stream }) {
    super();
    this.signal = signal;
    this.polite = polite;
    this.iceServers = iceServers ?? [];
    this.stream = stream ?? new MediaStream();
    this.remoteStream = new MediaStream();
    this.peer = null; // { id, info }
    this.pc = null;
    this.state = 'connecting'; // connecting | connected | reconnecting | ended
    this.sendingVideo = this.stream.getVideoTracks().length > 0;
    this.audioOnlyReason = this.sendingVideo ? null : 'no-camera';
    this.remoteVideoFrames = 0;
    this.connectedAt = null;
    this.offs = [
      signal.on('offer', (f) => this.#onDescription(f.from, { type: 'offer', sdp: f.sdp })),
      signal.on('answer', (f) => this.#onDescription(f.from, { type: 'answer', sdp: f.sdp })),
      signal.on('candidate', (f) => this.#onCandidate(f.from, f.candidate)),
    ];
    this.onNetworkChange = () => this.restartIce('network-change');
    addEventListener('online', this.onNetworkChange);
    navigator.connection?.addEventListener?.('change', this.onNetworkChange);
    this.statsTimer = setInterval(() => this.#sampleStats(), STATS_EVERY_MS);
    this.starvedFor = 0;
    for (const track of this.stream.getVideoTracks()) {
      track.addEventListener('ended', () => this.#fallBackToAudio('camera-lost'));
    }
  }

  /** The other participant is known (from `joined` or `peer_joined`). */
  setPeer(info) {
    if (this.state === 'ended') return;
    if (this.peer?.id === info.participant_id) {
      this.peer.info = info;
      return;
    }
    this.#closePeer();
    this.peer = { id: info.participant_id, info };
    this.#createPeerConnection();
    this.#emit('peer', info);
  }

  /** `peer_left`: that participant is gone for good. */
  peerLeft(participantId) {
    if (this.peer?.id !== participantId) return;
    this.#closePeer();
    this.#setState('connecting');
    this.#emit('peer-left', participantId);
  }

  /** After our socket came back: `joined` lists who is still in the call. */
  rejoined(participants) {
    const still = participants.find((p) => p.participant_id === this.peer?.id);
    if (still) {
      // The media path never depended on the socket; mend it only if it broke.
      if (this.pc && this.pc.iceConnectionState !== 'connected' && this.pc.iceConnectionState !== 'completed') {
        this.restartIce('socket-resumed');
      }
      return;
    }
    if (participants.length > 0) this.setPeer(participants[0]);
  }

  restartIce(reason) {
    if (!this.pc || this.state === 'ended' || this.pc.signalingState === 'closed') return;
    this.#emit('ice-restart', reason);
    this.pc.restartIce();
  }

  setMuted(muted) {
    for (const track of this.stream.getAudioTracks()) track.enabled = !muted;
  }

  setCameraOff(off) {
    for (const track of this.stream.getVideoTracks()) track.enabled = !off;
  }

  /** Tries sending video again after a fallback to audio only. */
  async resumeVideo() {
    const track = this.stream.getVideoTracks().find((t) => t.readyState === 'live');
    const sender = this.pc ? this.videoSender : null;
    if (!track || !sender) return false;
    await sender.replaceTrack(track);
    this.sendingVideo = true;
    this.audioOnlyReason = null;
    this.starvedFor = 0;
    this.#emit('audio-only', null);
    return true;
  }

  /** Ends the call for this browser. */
  hangUp() {
    if (this.state === 'ended') return;
    this.#closePeer();
    for (const off of this.offs) off();
    removeEventListener('online', this.onNetworkChange);
    navigator.connection?.removeEventListener?.('change', this.onNetworkChange);
    clearInterval(this.statsTimer);
    this.#setState('ended');
  }

  #emit(type, detail) {
    // Only states and reasons: never names or anything about the patient.
    if (typeof detail === 'string' || detail === null) console.debug(`call ${type}`, detail);
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state) {
    if (this.state === state || this.state === 'ended') return;
    this.state = state;
    if (state === 'connected' && !this.connectedAt) this.connectedAt = Date.now();
    this.#emit('state', state);
  }

  #send(frame) {
    if (!this.peer) return;
    this.signal.send({ ...frame, to: this.peer.id });
  }

  #createPeerConnection() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.settingRemoteAnswer = false;
    this.pendingCandidates = [];
    this.chain = Promise.resolve();
    this.starvedFor = 0;

    const audio = this.stream.getAudioTracks()[0];
    const video = this.stream.getVideoTracks()[0];
    if (audio) pc.addTrack(audio, this.stream);
    else pc.addTransceiver('audio', { direction: 'recvonly' });
    if (video && this.sendingVideo) {
      this.videoSender = pc.addTrack(video, this.stream);
    } else {
      this.videoSender = pc.addTransceiver('video', { direction: 'sendrecv' }).sender;
    }

    pc.onnegotiationneeded = async () => {
      try {
        this.makingOffer = true;
        await pc.setLocalDescription();
        if (this.pc !== pc) return;
        this.#send({ type: 'offer', sdp: pc.localDescription.sdp });
      } catch (error) {
        this.#emit('problem', `Could not start the call: ${error.message}`);
      } finally {
        this.makingOffer = false;
      }
    };
    pc.onicecandidate = ({ candidate }) => {
      if (candidate && this.pc === pc) this.#send({ type: 'candidate', candidate: candidate.toJSON() });
    };
    pc.ontrack = ({ track }) => {
      for (const old of this.remoteStream.getTracks().filter((t) => t.kind === track.kind)) {
        this.remoteStream.removeTrack(old);
      }
      this.remoteStream.addTrack(track);
      this.#emit('remote-track', track);
    };
    pc.oniceconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const ice = pc.iceConnectionState;
      clearTimeout(this.graceTimer);
      if (ice === 'failed') this.restartIce('ice-failed');
      if (ice === 'disconnected') {
        this.graceTimer = setTimeout(() => {
          if (this.pc === pc && pc.iceConnectionState === 'disconnected') this.restartIce('ice-disconnected');
        }, DISCONNECTED_GRACE_MS);
      }
    };
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const s = pc.connectionState;
      if (s === 'connected') this.#setState('connected');
      else if (s === 'disconnected' || s === 'failed') this.#setState('reconnecting');
      else if (s === 'connecting' || s === 'new') this.#setState(this.connectedAt ? 'reconnecting' : 'connecting');
    };
  }

  #closePeer() {
    clearTimeout(this.graceTimer);
    if (this.pc) {
      this.pc.onnegotiationneeded = this.pc.onicecandidate = this.pc.ontrack = null;
      this.pc.oniceconnectionstatechange = this.pc.onconnectionstatechange = null;
      this.pc.close();
    }
    this.pc = null;
    this.peer = null;
    for (const track of this.remoteStream.getTracks()) this.remoteStream.removeTrack(track);
  }

  /** Perfect negotiation: the polite peer yields on a collision, the impolite one ignores. */
  #onDescription(from, description) {
    if (this.state === 'ended') return;
    if (!this.peer || this.peer.id !== from) {
      // An offer from someone new: the old peer's socket did not come back.
      if (description.type !== 'offer') return;
      this.setPeer({ participant_id: from, role: null, display_name: '' });
    }
    const pc = this.pc;
    this.chain = this.chain.then(async () => {
      if (this.pc !== pc) return;
      const readyForOffer = !this.makingOffer && (pc.signalingState === 'stable' || this.settingRemoteAnswer);
      const collision = description.type === 'offer' && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.settingRemoteAnswer = description.type === 'answer';
      await pc.setRemoteDescription(description);
      this.settingRemoteAnswer = false;
      for (const candidate of this.pendingCandidates.splice(0)) {
        await pc.addIceCandidate(candidate).catch(() => {});
      }
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.#send({ type: 'answer', sdp: pc.localDescription.sdp });
      }
    }).catch((error) => {
      this.settingRemoteAnswer = false;
      this.#emit('problem', `Negotiation failed: ${error.message}`);
    });
  }

  #onCandidate(from, candidate) {
    if (!this.pc || this.peer?.id !== from) return;
    const pc = this.pc;
    this.chain = this.chain.then(async () => {
      if (this.pc !== pc) return;
      if (!pc.remoteDescription) {
        this.pendingCandidates.push(candidate);
        return;
      }
      try {
        await pc.addIceCandidate(candidate);
      } catch (error) {
        if (!this.ignoreOffer) this.#emit('problem', `A network route was refused: ${error.message}`);
      }
    });
  }

  #fallBackToAudio(reason) {
    if (!this.sendingVideo) return;
    this.sendingVideo = false;
    this.audioOnlyReason = reason;
    this.videoSender?.replaceTrack(null).catch(() => {});
    this.#emit('audio-only', reason);
  }

  async #sampleStats() {
    const pc = this.pc;
    if (!pc || this.state !== 'connected') return;
    let report;
    try { report = await pc.getStats(); } catch { return; }
    let inbound = null;
    let outbound = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') inbound = s;
      if (s.type === 'outbound-rtp' && s.kind === 'video') outbound = s;
    });
    if (inbound) {
      this.remoteVideoFrames = inbound.framesDecoded ?? 0;
    }
    // Video that cannot get out (a starved uplink) takes the audio down with
    // it: after a few seconds of it, send audio only.
    if (outbound && this.sendingVideo) {
      const starved = outbound.qualityLimitationReason === 'bandwidth' && (outbound.framesPerSecond ?? 0) < 2;
      this.starvedFor = starved ? this.starvedFor + STATS_EVERY_MS / 1000 : 0;
      if (this.starvedFor >= STARVED_SECONDS) this.#fallBackToAudio('bandwidth');
    }
    this.#emit('stats', { inbound, outbound });
  }
}
