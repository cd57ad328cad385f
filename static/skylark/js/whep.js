// A WHEP client (WebRTC-HTTP Egress Protocol, RFC 9725) as MediaMTX speaks it: POST an SDP
// offer, get 201 with the answer and the session's Location, DELETE that Location to leave.

const GATHER_TIMEOUT_MS = 2000;
const STALL_MS = 4000;

export class WhepSession {
  // `token` (optional) is Skylark's short-lived read token for MediaMTX's auth hook
  // (cameras/mediamtx.py), sent as `Authorization: Bearer`, which MediaMTX passes on as "token".
  constructor(url, { token = null } = {}) {
    this.url = new URL(url, location.href);
    this.token = token;
    this.pc = null;
    this.sessionUrl = null;
    this.watchdog = null;
    this.ondrop = null;
  }

  // Plays the stream in `video`; resolves once frames arrive, rejects on refusal, ICE failure
  // or no frames within `frameTimeoutMs`.
  async open(video, { frameTimeoutMs = 5000 } = {}) {
    const pc = new RTCPeerConnection();
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    const stream = new MediaStream();
    pc.addEventListener('track', (event) => stream.addTrack(event.track));
    video.srcObject = stream;

    await pc.setLocalDescription(await pc.createOffer());
    // Candidates go in the offer itself (no trickle): on a LAN gathering takes milliseconds.
    await gatheringComplete(pc, GATHER_TIMEOUT_MS);
    const headers = { 'Content-Type': 'application/sdp' };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const response = await fetch(this.url, {
      method: 'POST',
      headers,
      body: pc.localDescription.sdp,
      signal: AbortSignal.timeout(frameTimeoutMs),
    });
    if (response.status !== 201) throw new Error(`WHEP offer refused: HTTP ${response.status}`);
    // The session URL is itself the capability to end the session; MediaMTX asks for no token.
    const location = response.headers.get('Location');
    if (location) this.sessionUrl = new URL(location, this.url);
    await pc.setRemoteDescription({ type: 'answer', sdp: await response.text() });
    video.play().catch(() => {}); // muted playback is always allowed; a rejection is harmless
    await firstFrame(video, pc, frameTimeoutMs);
    this.#watchForDrop(pc, video);
  }

  // Ends the session; `keepalive` lets the DELETE outlive a page that is going away.
  close() {
    this.ondrop = null;
    clearInterval(this.watchdog);
    this.pc?.close();
    this.pc = null;
    if (this.sessionUrl) {
      fetch(this.sessionUrl, { method: 'DELETE', keepalive: true }).catch(() => {});
      this.sessionUrl = null;
    }
  }

  // The stream has dropped when the connection fails or no new frame arrives for STALL_MS
  // (publisher gone, network lost): checking frames catches what ICE notices only after ~10 s.
  #watchForDrop(pc, video) {
    let frames = -1;
    let changedAt = performance.now();
    const dropped = () => {
      clearInterval(this.watchdog);
      const ondrop = this.ondrop;
      this.ondrop = null; // once
      ondrop?.();
    };
    this.watchdog = setInterval(() => {
      const now = performance.now();
      const decoded = video.getVideoPlaybackQuality().totalVideoFrames;
      if (decoded !== frames || document.hidden) {
        frames = decoded;
        changedAt = now;
      } else if (now - changedAt > STALL_MS) {
        dropped();
      }
    }, 1000);
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' || pc.connectionState === 'closed') dropped();
    });
  }
}

function gatheringComplete(pc, timeoutMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function firstFrame(video, pc, timeoutMs) {
  return new Promise((resolve, reject) => {
    const finish = (error) => {
      clearTimeout(timer);
      video.removeEventListener('loadeddata', onData);
      pc.removeEventListener('connectionstatechange', onState);
      if (error) reject(error);
      else resolve();
    };
    const onData = () => finish();
    const onState = () => {
      if (pc.connectionState === 'failed') finish(new Error('WebRTC connection (ICE) failed'));
    };
    const timer = setTimeout(
      () => finish(new Error(`no video frames within ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    video.addEventListener('loadeddata', onData);
    pc.addEventListener('connectionstatechange', onState);
    if (video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA) finish();
  });
}
