// The dashboard's WebSocket (/ws/, session cookie): reconnects with backoff and, after every
// (re)connect, resumes after the last alert id it saw, so no alert is missed or shown twice.
// It also says which original-mode cameras the page shows (`watch`), and gets their boxes
// (`detections`) at the detection rate; those are live only, never replayed.
import { Backoff } from './backoff.js';

const PING_EVERY_MS = 20000;
const PONG_TIMEOUT_MS = 8000;
const SEEN_IDS_KEPT = 5000;

export class LiveSocket {
  // cameras: null for every camera, or the ids to subscribe to. scope names the sessionStorage
  // slot of the last alert id, so a page for one camera does not skip another camera's alerts.
  // sessionUrl answers 401/403 once the login session is gone.
  constructor({
    cameras = null, scope = 'all', sessionUrl, onAlert, onStatus, onResync, onState,
    onDetections = () => {}, onOutage = () => {},
  }) {
    this.cameras = cameras;
    this.sessionUrl = sessionUrl;
    this.storageKey = `skylark:last-alert-id:${scope}`;
    this.lastId = Number(sessionStorage.getItem(this.storageKey)) || 0;
    this.seen = new Set();
    this.handlers = { onAlert, onStatus, onResync, onState, onDetections, onOutage };
    this.watched = [];
    this.backoff = new Backoff({ initialMs: 500, maxMs: 10000 });
    this.ws = null;
    this.pingTimer = null;
    this.pongTimer = null;
  }

  get url() {
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws/`;
  }

  // Records an alert as shown (from the page's initial list, a resync, or the socket).
  markSeen(id) {
    if (this.seen.has(id)) return false;
    this.seen.add(id);
    if (this.seen.size > SEEN_IDS_KEPT) this.seen.delete(this.seen.values().next().value);
    if (id > this.lastId) {
      this.lastId = id;
      sessionStorage.setItem(this.storageKey, String(id));
    }
    return true;
  }

  // The cameras whose detections the page draws now (sorted ids); sent again on every reconnect.
  watch(cameras) {
    if (cameras.join() === this.watched.join()) return;
    this.watched = cameras;
    if (this.ws?.readyState === WebSocket.OPEN) this.#send({ type: 'watch', cameras });
  }

  start() {
    this.handlers.onState('connecting');
    this.#connect();
  }

  #connect() {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
      this.backoff.reset();
      if (this.cameras) this.#send({ type: 'subscribe', cameras: this.cameras });
      this.#send({ type: 'resume', after_id: this.lastId });
      if (this.watched.length) this.#send({ type: 'watch', cameras: this.watched });
      this.#schedulePing();
    });
    ws.addEventListener('message', (event) => {
      clearTimeout(this.pongTimer); // any message proves the connection alive
      this.#receive(JSON.parse(event.data));
    });
    ws.addEventListener('close', () => this.#lost(ws, opened));
  }

  #lost(ws, opened) {
    if (this.ws !== ws) return;
    this.ws = null;
    clearTimeout(this.pingTimer);
    clearTimeout(this.pongTimer);
    this.handlers.onState('reconnecting');
    if (!opened) this.#checkSession();
    setTimeout(() => this.#connect(), this.backoff.next());
  }

  // A refused handshake may mean the session expired: then the login page is the way back.
  async #checkSession() {
    try {
      const response = await fetch(this.sessionUrl, { credentials: 'same-origin' });
      if (response.status === 401 || response.status === 403) location.reload();
    } catch {
      // server unreachable: keep retrying the socket
    }
  }

  #schedulePing() {
    clearTimeout(this.pingTimer);
    this.pingTimer = setTimeout(() => {
      const ws = this.ws;
      if (!ws) return;
      this.#send({ type: 'ping' });
      // No answer: the connection is dead without the browser knowing (sleep, network change).
      this.pongTimer = setTimeout(() => {
        ws.close();
        this.#lost(ws, true);
      }, PONG_TIMEOUT_MS);
      this.#schedulePing();
    }, PING_EVERY_MS);
  }

  #send(message) {
    this.ws?.send(JSON.stringify(message));
  }

  #receive(message) {
    switch (message.type) {
      case 'batch':
        // Live events that were waiting together on the server, in order, in one frame.
        message.events.forEach((event) => this.#receive(event));
        break;
      case 'alert':
        if (this.markSeen(message.alert.id)) this.handlers.onAlert(message.alert);
        break;
      case 'camera.status':
        this.handlers.onStatus(message.camera);
        break;
      case 'camera.offline':
      case 'camera.online':
        // A running camera down for CAMERA_OFFLINE_AFTER_S, or back: live only, not replayed.
        this.handlers.onOutage(message.type, message.outage);
        break;
      case 'detections':
        this.handlers.onDetections(message);
        break;
      case 'resume.done':
        // The server has joined our groups and replayed what we missed: we are live.
        this.handlers.onState('connected');
        break;
      case 'resync':
        this.handlers.onState('connected');
        this.handlers.onResync();
        break;
      case 'error':
        console.warn(`live feed: ${message.error}`);
        break;
      default:
        break; // subscribed, watching, pong
    }
  }
}
