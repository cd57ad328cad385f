// A camera's status on the page ([data-camera-tile]): health badge, fps, last error, last alert,
// alert toasts, the operator's Start/Stop buttons, and whether its live picture plays.
import { faces, timeElement } from './format.js';
import { postForm } from './http.js';

const LABELS = {
  stopped: 'Stopped', connecting: 'Connecting', online: 'Online', offline: 'Offline', error: 'Error',
};
const TOAST_MS = 6000;

// What the badge says: once an operator asked for stopped, the camera is stopped, even while
// its loop winds down (the loop confirms within a second).
export function health(camera) {
  return camera.desired_state === 'stopped' ? 'stopped' : camera.status;
}

export class CameraTile {
  constructor(el, { live = null } = {}) {
    this.el = el;
    this.live = live;
    this.badge = el.querySelector('[data-badge]');
    this.toast = el.querySelector('[data-toast]');
    this.toastTimer = null;
    this.lastAlertAt = el.querySelector('[data-field="last_alert"] time')?.dateTime ?? null;
    this.controls = [...el.querySelectorAll('form[data-control]')];
    for (const form of this.controls) form.addEventListener('submit', (e) => this.#control(e));
    const initial = el.querySelector(':scope > script[type="application/json"]');
    if (initial) this.applyStatus(JSON.parse(initial.textContent));
  }

  applyStatus(camera) {
    const state = health(camera);
    this.el.dataset.health = state;
    this.badge.dataset.state = state;
    this.badge.textContent = LABELS[state] ?? state;
    this.badge.title = camera.last_error || '';
    this.#field('fps_in', camera.fps_in.toFixed(1));
    this.#field('fps_out', camera.fps_out.toFixed(1));
    this.#field('frames_dropped', String(camera.frames_dropped));
    if (camera.last_frame_at) this.#field('last_frame_at', timeElement(camera.last_frame_at));
    const error = this.el.querySelector('[data-field="last_error"]');
    if (error) {
      error.textContent = camera.last_error;
      error.hidden = !camera.last_error;
    }
    const running = camera.desired_state === 'running';
    for (const form of this.controls) {
      form.hidden = form.dataset.control === 'start' ? running : !running;
    }
    this.live?.setRunning(running);
  }

  noteAlert(alert) {
    if (!this.lastAlertAt || new Date(alert.created_at) >= new Date(this.lastAlertAt)) {
      this.lastAlertAt = alert.created_at;
      this.#field('last_alert', timeElement(alert.created_at));
    }
    if (!this.toast) return;
    this.toast.textContent = alert.person_name
      ? `${alert.person_name} seen`
      : `${faces(alert.face_count)} detected`;
    this.toast.hidden = false;
    this.el.classList.add('has-alert');
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      this.toast.hidden = true;
      this.el.classList.remove('has-alert');
    }, TOAST_MS);
  }

  #field(name, value) {
    const el = this.el.querySelector(`[data-field="${name}"]`);
    if (!el) return;
    if (typeof value === 'string') el.textContent = value;
    else el.replaceChildren(value);
  }

  async #control(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      this.applyStatus(await postForm(form)); // the socket's camera.status event follows
    } catch (error) {
      console.error(error);
      form.submit(); // let the server answer the plain way (login page, 403, message)
    } finally {
      button.disabled = false;
    }
  }
}
