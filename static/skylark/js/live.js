// A live picture ([data-live]): WebRTC through WHEP when the page gives a WHEP URL, otherwise,
// or whenever WebRTC fails or drops, the MJPEG stream; WebRTC is retried with backoff meanwhile.
// A stopped camera streams nothing: browsers allow only six HTTP/1.1 connections per server.
import { Backoff } from './backoff.js';
import { BoxOverlay } from './overlay.js';
import { WhepSession } from './whep.js';

const FRAME_TIMEOUT_MS = 5000;

export class LiveView {
  constructor(el) {
    this.el = el;
    this.video = el.querySelector('video');
    this.img = el.querySelector('img');
    this.label = el.querySelector('[data-transport]');
    // Original-mode cameras only: their boxes are drawn here, over the WebRTC video.
    const canvas = el.querySelector('canvas[data-boxes]');
    this.overlay = canvas ? new BoxOverlay(canvas, this.video) : null;
    this.whepUrl = el.dataset.whepUrl || null;
    this.mjpegUrl = el.dataset.mjpegUrl;
    this.running = null; // not known until the tile applies the camera's status
    this.session = null;
    this.retryTimer = null;
    this.generation = 0; // bumped by stop(): an attempt still under way then is abandoned
    this.webrtcBackoff = new Backoff({ initialMs: 4000, maxMs: 60000 });
    this.mjpegBackoff = new Backoff({ initialMs: 1000, maxMs: 15000 });
    this.img.addEventListener('load', () => this.mjpegBackoff.reset());
    this.img.addEventListener('error', () => this.#mjpegFailed());
  }

  // Plays while the camera should run; called with every status the page learns.
  setRunning(running) {
    if (running === this.running) return;
    this.running = running;
    if (running) this.start();
    else this.stop('off');
  }

  start() {
    if (!this.running) return;
    this.#setMode('connecting', 'Connecting…');
    if (this.whepUrl && 'RTCPeerConnection' in window) this.#tryWebRTC();
    else this.#showMjpeg();
  }

  // The server was unreachable (the page's socket just reconnected): an MJPEG stream it was
  // sending has ended without the <img> noticing, so ask for a new one.
  reopenMjpeg() {
    if (this.el.dataset.mode === 'mjpeg') this.img.src = `${this.mjpegUrl}?reopened=${Date.now()}`;
  }

  stop(mode = 'paused') {
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.session?.close();
    this.session = null;
    this.img.hidden = true;
    this.img.removeAttribute('src'); // closes the MJPEG connection
    this.#setMode(mode, '');
  }

  // Each attempt gets a fresh short-lived token that MediaMTX's auth hook checks (cameras/mediamtx.py).
  async #readToken() {
    const url = this.el.dataset.whepTokenUrl;
    if (!url) return null;
    const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(`no read token: HTTP ${response.status}`);
    return (await response.json()).token;
  }

  async #tryWebRTC() {
    const generation = this.generation;
    let session = null;
    try {
      session = new WhepSession(this.whepUrl, { token: await this.#readToken() });
      await session.open(this.video, { frameTimeoutMs: FRAME_TIMEOUT_MS });
    } catch (error) {
      session?.close();
      if (generation !== this.generation) return;
      console.info(`camera video: WebRTC unavailable (${error.message}); using MJPEG`);
      this.#fallBack();
      return;
    }
    if (generation !== this.generation) {
      session.close();
      return;
    }
    this.session = session;
    this.webrtcBackoff.reset();
    session.ondrop = () => {
      session.close();
      this.session = null;
      this.#fallBack();
    };
    this.img.hidden = true;
    this.img.removeAttribute('src');
    this.#setMode('webrtc', 'WebRTC');
  }

  #fallBack() {
    this.#showMjpeg();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.#tryWebRTC(), this.webrtcBackoff.next());
  }

  #showMjpeg() {
    if (this.el.dataset.mode !== 'mjpeg') {
      this.img.src = this.mjpegUrl;
      this.img.hidden = false;
      this.#setMode('mjpeg', 'MJPEG');
    }
  }

  #mjpegFailed() {
    if (this.el.dataset.mode !== 'mjpeg' || !this.img.getAttribute('src')) return;
    // The server went away (restart, network): ask again later with a fresh URL.
    setTimeout(() => this.reopenMjpeg(), this.mjpegBackoff.next());
  }

  #setMode(mode, label) {
    this.overlay?.setPlaying(mode === 'webrtc');
    this.el.dataset.mode = mode;
    this.label.textContent = label;
  }
}
