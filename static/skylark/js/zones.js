// The camera page's zones and masks: polygons drawn in an SVG over the camera's latest picture.
// Points are fractions of the frame (0..1), as cameras/validators.py and detection/zones.py take
// them. Operators edit them (mouse or keyboard) and save through PATCH /api/cameras/{id}/; the
// API validates, and its messages are shown as they come.
import { sendJSON } from './http.js';

const SVG = 'http://www.w3.org/2000/svg';
const STEP = 0.01; // an arrow key moves a point by 1 % of the frame; with Shift, 5 %
const BIG_STEP = 0.05;
const HANDLE_RADIUS = 7; // CSS pixels: the SVG's user units are the picture's CSS pixels
const KIND_NAMES = { zone: 'Zone', mask: 'Mask' };
// Where "Add point" puts the first points of an empty polygon, so keyboard users can start one.
const STARTER = [[0.4, 0.4], [0.6, 0.4], [0.5, 0.6]];

const clamp = (value) => Math.min(1, Math.max(0, value));
const round = (value) => Math.round(value * 10000) / 10000;
const percent = (value) => `${Math.round(value * 100)}%`;

export class ZoneEditor {
  constructor(el) {
    this.el = el;
    this.editable = el.dataset.editable === 'true';
    this.apiUrl = el.dataset.apiUrl;
    this.picture = el.querySelector('[data-zone-picture]');
    this.img = this.picture.querySelector('img');
    this.svg = this.picture.querySelector('svg');
    this.list = el.querySelector('[data-region-list]');
    this.message = el.querySelector('[data-message]');
    this.regions = JSON.parse(document.getElementById('camera-regions').textContent);
    this.savedJSON = JSON.stringify(this.regions);
    this.drawing = null; // index of the polygon that clicks on the picture add points to
    this.drag = null; // {region, point} while a point is dragged
    this.size = { width: 0, height: 0 };

    this.img.addEventListener('load', () => this.#pictureLoaded());
    this.img.addEventListener('error', () => { this.picture.dataset.pictureState = 'none'; });
    new ResizeObserver(() => this.#resize()).observe(this.picture);
    this.loadPicture();
    if (this.editable) this.#listen();
    this.render();
  }

  // The camera's latest frame (the MJPEG fallback's snapshot); a stopped camera has none, and the
  // polygons are drawn on an empty 16:9 frame instead.
  loadPicture() {
    this.img.src = `${this.el.dataset.snapshotUrl}?at=${Date.now()}`;
  }

  #pictureLoaded() {
    this.img.hidden = false;
    this.picture.dataset.pictureState = 'shown';
    this.picture.style.aspectRatio = `${this.img.naturalWidth} / ${this.img.naturalHeight}`;
  }

  #resize() {
    const { width, height } = this.picture.getBoundingClientRect();
    this.size = { width, height };
    this.svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    this.render();
  }

  #listen() {
    this.el.addEventListener('click', (event) => {
      const action = event.target.closest('[data-action]');
      if (action) this.#act(action.dataset.action, action.dataset);
    });
    this.svg.addEventListener('pointerdown', (event) => this.#pointerDown(event));
    this.svg.addEventListener('pointermove', (event) => this.#pointerMove(event));
    this.svg.addEventListener('pointerup', () => { this.drag = null; });
    this.svg.addEventListener('pointercancel', () => { this.drag = null; });
    this.svg.addEventListener('keydown', (event) => this.#keyDown(event));
    this.svg.tabIndex = -1; // a click on the picture focuses it, so Escape reaches the editor
    this.el.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.drawing !== null) this.#act('finish', {});
    });
    addEventListener('beforeunload', (event) => {
      if (this.el.dataset.dirty === 'true') event.preventDefault(); // "leave with unsaved changes?"
    });
  }

  #act(action, data) {
    const index = Number(data.region);
    if (action === 'add-zone' || action === 'add-mask') {
      this.regions.push({ kind: action === 'add-zone' ? 'zone' : 'mask', points: [] });
      this.drawing = this.regions.length - 1;
      this.#say(`${this.#name(this.drawing)}: click on the picture to place its points, then Done drawing.`);
    } else if (action === 'finish') {
      this.drawing = null;
      this.#say('');
    } else if (action === 'add-point') {
      this.#addPointAfterLast(index); // renders, and focuses the new point to move it
      return;
    } else if (action === 'delete-region') {
      const name = this.#name(index);
      this.regions.splice(index, 1);
      if (this.drawing === index) this.drawing = null;
      else if (this.drawing > index) this.drawing -= 1;
      this.#say(`${name} deleted (not saved yet).`);
    } else if (action === 'snapshot') {
      this.loadPicture();
      return;
    } else if (action === 'save') {
      this.save();
      return;
    }
    this.render();
  }

  // Keyboard users' way to grow a polygon: a starter triangle, then midpoints of the closing edge.
  #addPointAfterLast(index) {
    const { points } = this.regions[index];
    const point = points.length < STARTER.length
      ? STARTER[points.length]
      : points.at(-1).map((value, axis) => round((value + points[0][axis]) / 2));
    points.push([...point]);
    this.render();
    this.#focusHandle(index, points.length - 1);
  }

  #fractionAt(event) {
    const rect = this.svg.getBoundingClientRect();
    return [
      round(clamp((event.clientX - rect.left) / rect.width)),
      round(clamp((event.clientY - rect.top) / rect.height)),
    ];
  }

  #pointerDown(event) {
    const handle = event.target.closest('.zone-handle');
    if (handle) {
      event.preventDefault(); // no text selection, and keep the focus given below
      handle.focus();
      this.drag = { region: Number(handle.dataset.region), point: Number(handle.dataset.point) };
      this.svg.setPointerCapture(event.pointerId);
    } else if (this.drawing !== null) {
      this.regions[this.drawing].points.push(this.#fractionAt(event));
      this.render();
    }
  }

  #pointerMove(event) {
    if (!this.drag) return;
    this.#movePoint(this.drag.region, this.drag.point, this.#fractionAt(event));
  }

  #keyDown(event) {
    const handle = event.target.closest('.zone-handle');
    if (!handle) return;
    const region = Number(handle.dataset.region);
    const point = Number(handle.dataset.point);
    const step = event.shiftKey ? BIG_STEP : STEP;
    const moves = {
      ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step],
    };
    if (moves[event.key]) {
      const [x, y] = this.regions[region].points[point];
      const [dx, dy] = moves[event.key];
      this.#movePoint(region, point, [round(clamp(x + dx)), round(clamp(y + dy))]);
    } else if (event.key === 'Delete' || event.key === 'Backspace') {
      const { points } = this.regions[region];
      points.splice(point, 1);
      this.render();
      this.#say(`Point removed from ${this.#name(region)} (not saved yet).`);
      if (points.length) this.#focusHandle(region, Math.min(point, points.length - 1));
      else this.list.querySelector(`[data-action="add-point"][data-region="${region}"]`)?.focus();
    } else {
      return;
    }
    event.preventDefault(); // arrows would scroll the page
  }

  // Moves one point without rebuilding the drawing: the handle keeps its focus and pointer.
  #movePoint(region, point, to) {
    this.regions[region].points[point] = to;
    const group = this.svg.querySelector(`[data-region-group="${region}"]`);
    group.querySelector('.zone-shape').setAttribute('points', this.#svgPoints(region));
    const handle = group.querySelector(`[data-point="${point}"]`);
    this.#placeHandle(handle, region, point);
    this.#renderList();
  }

  #focusHandle(region, point) {
    this.svg.querySelector(`[data-region="${region}"][data-point="${point}"]`)?.focus();
  }

  #name(index) {
    const { kind } = this.regions[index];
    const number = this.regions.slice(0, index + 1).filter((r) => r.kind === kind).length;
    return `${KIND_NAMES[kind]} ${number}`;
  }

  #svgPoints(index) {
    const { width, height } = this.size;
    return this.regions[index].points.map(([x, y]) => `${x * width},${y * height}`).join(' ');
  }

  #placeHandle(handle, region, point) {
    const [x, y] = this.regions[region].points[point];
    handle.setAttribute('cx', x * this.size.width);
    handle.setAttribute('cy', y * this.size.height);
    handle.setAttribute(
      'aria-label',
      `${this.#name(region)}, point ${point + 1} of ${this.regions[region].points.length}: ` +
        `${percent(x)} from the left, ${percent(y)} from the top`,
    );
  }

  render() {
    // A resize (a new picture, a narrower window) redraws too: the focused point keeps its focus.
    const focused = this.svg.contains(document.activeElement) ? document.activeElement.dataset : null;
    this.svg.replaceChildren(...this.regions.map((region, index) => this.#group(region, index)));
    if (focused?.point !== undefined) this.#focusHandle(focused.region, focused.point);
    this.svg.classList.toggle('is-drawing', this.drawing !== null);
    if (!this.editable) return;
    this.el.querySelector('[data-action="finish"]').hidden = this.drawing === null;
    this.#renderList();
  }

  #group(region, index) {
    const group = document.createElementNS(SVG, 'g');
    group.setAttribute('class', `zone-region zone-region-${region.kind}`);
    group.dataset.regionGroup = String(index);
    // A polygon being drawn stays open until it is done; fewer than 3 points cannot close.
    const closed = this.drawing !== index && region.points.length >= 3;
    const shape = document.createElementNS(SVG, closed ? 'polygon' : 'polyline');
    shape.setAttribute('class', 'zone-shape');
    shape.setAttribute('points', this.#svgPoints(index));
    group.append(shape);
    if (!this.editable) return group;
    region.points.forEach((_, point) => {
      const handle = document.createElementNS(SVG, 'circle');
      handle.setAttribute('class', 'zone-handle');
      handle.setAttribute('r', String(HANDLE_RADIUS));
      handle.setAttribute('tabindex', '0');
      handle.setAttribute('role', 'button');
      handle.dataset.region = String(index);
      handle.dataset.point = String(point);
      this.#placeHandle(handle, index, point);
      group.append(handle);
    });
    return group;
  }

  #renderList() {
    const dirty = JSON.stringify(this.regions) !== this.savedJSON;
    this.el.dataset.dirty = String(dirty);
    this.el.querySelector('[data-unsaved]').hidden = !dirty;
    const items = this.regions.map((region, index) => {
      const item = document.createElement('li');
      item.className = `zone-item zone-item-${region.kind}`;
      const label = document.createElement('span');
      const count = region.points.length;
      label.textContent = `${this.#name(index)} · ${count} point${count === 1 ? '' : 's'}`;
      item.append(label, this.#button('Add point', 'add-point', index), this.#button('Delete', 'delete-region', index));
      return item;
    });
    // Keep the focused list button across the rebuild (Add point pressed repeatedly).
    const focused = this.list.contains(document.activeElement) ? document.activeElement.dataset : null;
    this.list.replaceChildren(...items);
    if (focused) {
      this.list.querySelector(`[data-action="${focused.action}"][data-region="${focused.region}"]`)?.focus();
    }
  }

  #button(text, action, index) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'btn btn-sm btn-ghost';
    button.textContent = text;
    button.dataset.action = action;
    button.dataset.region = String(index);
    button.setAttribute('aria-label', `${text}: ${this.#name(index)}`);
    return button;
  }

  #say(text, kind = 'info') {
    this.message.textContent = text;
    this.message.dataset.kind = kind;
  }

  // Saves every polygon at once; the API answers with the camera as stored, or with why not.
  async save() {
    this.drawing = null;
    this.render();
    const button = this.el.querySelector('[data-action="save"]');
    button.disabled = true;
    const token = this.el.querySelector('[name="csrfmiddlewaretoken"]').value;
    try {
      const { ok, status, body } = await sendJSON(this.apiUrl, 'PATCH', { regions: this.regions }, token);
      if (ok) {
        this.regions = body.regions;
        this.savedJSON = JSON.stringify(this.regions);
        this.render();
        const kinds = this.regions.map((region) => region.kind);
        const zones = kinds.filter((kind) => kind === 'zone').length;
        this.#say(`Saved: ${zones} zone${zones === 1 ? '' : 's'}, ${kinds.length - zones} mask${kinds.length - zones === 1 ? '' : 's'}.`, 'success');
      } else {
        this.#say(`Not saved: ${errorText(body, status)}`, 'error');
      }
    } catch (error) {
      this.#say(`Not saved: ${error.message}`, 'error');
    } finally {
      button.disabled = false;
    }
  }
}

// The API's errors ({"regions": ["…"]}, {"detail": "…"}) as one line for people.
function errorText(body, status) {
  const messages = Object.values(body ?? {}).flat().filter((m) => typeof m === 'string');
  return messages.length ? messages.join(' ') : `HTTP ${status}`;
}
