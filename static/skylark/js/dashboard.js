// Entry point of the camera grid and the camera page: live pictures, live status, live alerts.
import { AlertFeed } from './feed.js';
import { localizeTimes } from './format.js';
import { getJSON } from './http.js';
import { enableLightbox } from './lightbox.js';
import { LiveView } from './live.js';
import { watchInView } from './overlay.js';
import { LiveSocket } from './realtime.js';
import { CameraTile } from './tiles.js';
import { ZoneEditor } from './zones.js';

const CONNECTION_LABELS = {
  connecting: 'Connecting…', connected: 'Connected', reconnecting: 'Reconnecting…',
};

localizeTimes();
enableLightbox();
document.querySelectorAll('[data-zone-editor]').forEach((el) => new ZoneEditor(el));

const views = [];
const tiles = new Map();
const overlays = new Map(); // camera id -> its BoxOverlay (original-mode cameras)
const pictures = new Map(); // their pictures -> camera id, to watch those in view
for (const el of document.querySelectorAll('[data-camera-tile]')) {
  const live = new LiveView(el.querySelector('[data-live]'));
  views.push(live);
  if (live.overlay) {
    overlays.set(Number(el.dataset.cameraId), live.overlay);
    pictures.set(el.querySelector('[data-picture]'), Number(el.dataset.cameraId));
  }
  tiles.set(Number(el.dataset.cameraId), new CameraTile(el, { live })); // starts `live` if running
}
// Leave WebRTC sessions and MJPEG streams when the page goes away; resume if it comes back
// from the back/forward cache.
addEventListener('pagehide', () => views.forEach((view) => view.stop()));
addEventListener('pageshow', (event) => {
  if (event.persisted) views.forEach((view) => view.start());
});

const list = document.getElementById('alert-feed');
const feed = new AlertFeed(list);
const onlyCamera = list.dataset.camera ? Number(list.dataset.camera) : null;
const indicator = document.getElementById('connection');

const socket = new LiveSocket({
  cameras: onlyCamera ? [onlyCamera] : null,
  scope: onlyCamera ? `camera-${onlyCamera}` : 'all',
  sessionUrl: indicator.dataset.sessionUrl,
  onAlert(alert) {
    if (onlyCamera && alert.camera !== onlyCamera) return;
    feed.add(alert);
    tiles.get(alert.camera)?.noteAlert(alert);
  },
  onStatus(camera) {
    tiles.get(camera.id)?.applyStatus(camera);
  },
  onOutage(kind, outage) {
    if (onlyCamera && outage.camera !== onlyCamera) return;
    feed.addOutage(kind, outage);
  },
  onDetections(detections) {
    overlays.get(detections.camera)?.show(detections);
  },
  async onResync() {
    // Too many alerts were missed to replay: reload the newest ones from the REST API.
    const url = new URL(list.dataset.apiUrl, location.href);
    url.searchParams.set('page_size', String(feed.limit));
    if (onlyCamera) url.searchParams.set('camera', String(onlyCamera));
    const page = await getJSON(url);
    page.results.forEach((alert) => socket.markSeen(alert.id));
    feed.replace(page.results);
  },
  onState(state) {
    if (state === 'connected' && indicator.dataset.state === 'reconnecting') {
      views.forEach((view) => view.reopenMjpeg());
    }
    indicator.dataset.state = state;
    indicator.querySelector('.conn-label').textContent = CONNECTION_LABELS[state];
  },
});

const initial = JSON.parse(document.getElementById('initial-alerts').textContent);
initial.forEach((alert) => socket.markSeen(alert.id));
feed.replace(initial);
socket.start();
watchInView(pictures, (cameras) => socket.watch(cameras));
