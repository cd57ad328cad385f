// The live alert feed: newest first, one item per alert id, capped at the page's limit.
import { faces, formatTime, timeElement } from './format.js';

export class AlertFeed {
  constructor(list) {
    this.list = list;
    this.limit = Number(list.dataset.limit) || 30;
    this.cameraUrlPattern = list.dataset.cameraUrl; // the URL of camera 0: "/cameras/0/"
    this.empty = document.getElementById('feed-empty');
  }

  replace(alerts) {
    this.list.replaceChildren();
    for (const alert of alerts) this.add(alert, { fresh: false });
    this.#updateEmpty();
  }

  add(alert, { fresh = true } = {}) {
    if (this.list.querySelector(`[data-alert-id="${alert.id}"]`)) return;
    const item = this.#render(alert);
    if (fresh) item.classList.add('is-new');
    // Keep newest first even when a buffered alert arrives after newer ones.
    const next = [...this.list.children].find((other) => isOlder(other, alert));
    this.list.insertBefore(item, next ?? null);
    while (this.list.children.length > this.limit) this.list.lastElementChild.remove();
    this.#updateEmpty();
  }

  // A camera that went dark (or came back): its own kind of item, between the alerts by time.
  addOutage(kind, outage) {
    if (this.list.querySelector(`[data-event-id="${outage.event_id}"]`)) return;
    const item = document.createElement('li');
    item.className = `feed-item feed-outage is-${kind === 'camera.offline' ? 'offline' : 'online'}`;
    item.dataset.eventId = outage.event_id;
    item.dataset.createdAt = outage.at;
    const text = document.createElement('div');
    text.className = 'feed-text';
    const camera = document.createElement('a');
    camera.className = 'feed-camera';
    camera.href = this.cameraUrlPattern.replace(/\/0\/$/, `/${outage.camera}/`);
    camera.textContent = outage.camera_name;
    const meta = document.createElement('span');
    meta.className = 'feed-meta';
    const what = document.createElement('span');
    what.className = 'outage';
    what.textContent = kind === 'camera.offline' ? 'Camera offline' : 'Back online';
    if (outage.last_error && kind === 'camera.offline') what.title = outage.last_error;
    meta.append(what, timeElement(outage.at));
    text.append(camera, meta);
    item.append(text);
    const next = [...this.list.children].find(
      (other) => new Date(other.dataset.createdAt) < new Date(outage.at),
    );
    this.list.insertBefore(item, next ?? null);
    while (this.list.children.length > this.limit) this.list.lastElementChild.remove();
    this.#updateEmpty();
  }

  #render(alert) {
    const item = document.createElement('li');
    item.className = 'feed-item';
    item.dataset.alertId = alert.id;
    item.dataset.createdAt = alert.created_at;

    const who = alert.person_name ? ` · ${alert.person_name}` : '';
    const summary = `${alert.camera_name} · ${formatTime(alert.created_at)} · ${faces(alert.face_count)}${who}`;
    if (alert.snapshot_url) {
      const thumb = document.createElement('a');
      thumb.className = 'thumb';
      thumb.href = alert.snapshot_url;
      thumb.dataset.lightbox = '';
      thumb.dataset.caption = summary;
      const img = document.createElement('img');
      img.src = alert.snapshot_url;
      img.alt = `Snapshot: ${summary}`;
      img.loading = 'lazy';
      img.width = 96;
      img.height = 54;
      thumb.append(img);
      item.append(thumb);
    } else {
      const none = document.createElement('span');
      none.className = 'thumb thumb-none';
      none.textContent = 'No snapshot';
      item.append(none);
    }

    const text = document.createElement('div');
    text.className = 'feed-text';
    const camera = document.createElement('a');
    camera.className = 'feed-camera';
    camera.href = this.cameraUrlPattern.replace(/\/0\/$/, `/${alert.camera}/`);
    camera.textContent = alert.camera_name;
    const meta = document.createElement('span');
    meta.className = 'feed-meta';
    const count = document.createElement('span');
    count.className = 'faces';
    count.textContent = faces(alert.face_count);
    meta.append(count);
    if (alert.person_name) {
      // Who the new face is, when a camera recognised an enrolled person.
      const person = document.createElement('span');
      person.className = 'person';
      person.textContent = alert.person_name;
      meta.append(person);
    }
    meta.append(timeElement(alert.created_at));
    text.append(camera, meta);
    item.append(text);
    return item;
  }

  #updateEmpty() {
    if (this.empty) this.empty.hidden = this.list.children.length > 0;
  }
}

function isOlder(item, alert) {
  const created = item.dataset.createdAt;
  if (created !== alert.created_at) return new Date(created) < new Date(alert.created_at);
  return Number(item.dataset.alertId) < alert.id;
}
