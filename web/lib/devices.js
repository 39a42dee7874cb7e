// Camera and microphone: asking for them, explaining what went wrong in
// words a patient can act on, a live microphone level and a speaker test.

const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, facingMode: 'user' };

/**
 * Asks for camera and microphone; falls back to the microphone alone.
 * Resolves `{stream, problem}`: `problem` explains what is missing, if anything.
 */
export async function openDevices() {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: null, problem: explain({ name: 'Unsupported' }) };
  }
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio: true, video: VIDEO }), problem: null };
  } catch (error) {
    const problem = explain(error);
    if (problem.kind === 'blocked') return { stream: null, problem };
    // The camera failed (busy or missing): the microphone may still work.
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      return { stream, problem: { ...problem, audioOnly: true } };
    } catch (second) {
      return { stream: null, problem: explain(second) };
    }
  }
}

/** What a getUserMedia failure means for the patient. */
export function explain(error) {
  const phone = /Android|iPhone|iPad/i.test(navigator.userAgent);
  switch (error?.name) {
    case 'NotAllowedError':
    case 'PermissionDeniedError':
    case 'SecurityError':
      return {
        kind: 'blocked',
        title: 'Camera and microphone are blocked',
        steps: phone
          ? ['Open your phone\u2019s Settings, find this browser, and allow Camera and Microphone.',
            'Come back to this page and choose \u201cTry again\u201d.']
          : ['Select the camera icon or the lock icon at the left of the address bar.',
            'Set Camera and Microphone to \u201cAllow\u201d.',
            'Choose \u201cTry again\u201d (you may need to reload the page).'],
      };
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return {
        kind: 'busy',
        title: 'Your camera is being used by another app',
        steps: ['Close other apps or tabs that use the camera (video calls, the camera app).',
          'Then choose \u201cTry again\u201d.'],
      };
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return {
        kind: 'missing',
        title: 'No camera was found',
        steps: ['Connect a camera, or continue with audio only.'],
      };
    case 'Unsupported':
      return {
        kind: 'unsupported',
        title: 'This browser cannot make video calls',
        steps: ['Open this link in a current version of Chrome, Edge, Firefox or Safari.'],
      };
    default:
      return {
        kind: 'error',
        title: 'Your camera or microphone could not start',
        steps: ['Check they are connected and not in use, then choose \u201cTry again\u201d.'],
      };
  }
}

/** Reads the microphone level (0..1) about ten times a second. Returns a stop function. */
export function watchLevel(stream, onLevel) {
  const track = stream?.getAudioTracks()[0];
  if (!track) return () => {};
  const context = new AudioContext();
  const source = context.createMediaStreamSource(new MediaStream([track]));
  const analyser = context.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    const rms = Math.sqrt(sum / samples.length);
    // Speech sits around 0.02–0.2 RMS; spread it over the meter.
    onLevel(Math.min(1, rms * 6));
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
    context.close().catch(() => {});
  };
}

/** Plays a short two-tone chime on the speakers. */
export async function playTestSound() {
  const context = new AudioContext();
  const gain = context.createGain();
  gain.gain.value = 0.15;
  gain.connect(context.destination);
  const start = context.currentTime;
  for (const [i, frequency] of [660, 880].entries()) {
    const tone = context.createOscillator();
    tone.frequency.value = frequency;
    tone.connect(gain);
    tone.start(start + i * 0.35);
    tone.stop(start + i * 0.35 + 0.3);
  }
  await new Promise((resolve) => setTimeout(resolve, 800));
  await context.close();
}

export function stopStream(stream) {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
