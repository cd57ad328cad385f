// Original-mode cameras: the video is the camera's own stream, so the page draws the faces' boxes
// itself, on a <canvas> laid over the picture the <video> shows, from the socket's `detections`.
const STALE_MS = 2000; // no detections for this long: the boxes would lie, so they go
const BOX_COLOUR = 'rgb(0 220 0)';
const IGNORED_COLOUR = 'rgb(255 170 0)'; // outside every zone, or inside a mask: no alert
const LABEL_TEXT = 'rgb(0 0 0)';

// Where the video's picture sits inside the element, in CSS pixels, as its object-fit places it
// (letterboxing included; object-position is the default centre).
export function pictureBox(video) {
  const width = video.clientWidth;
  const height = video.clientHeight;
  const { videoWidth, videoHeight } = video;
  const fit = getComputedStyle(video).objectFit;
  if (!videoWidth || !videoHeight || fit === 'fill') return { x: 0, y: 0, width, height };
  const contain = Math.min(width / videoWidth, height / videoHeight);
  const scale = {
    contain,
    cover: Math.max(width / videoWidth, height / videoHeight),
    none: 1,
    'scale-down': Math.min(contain, 1),
  }[fit] ?? contain;
  const shown = { width: videoWidth * scale, height: videoHeight * scale };
  return { x: (width - shown.width) / 2, y: (height - shown.height) / 2, ...shown };
}

export class BoxOverlay {
  constructor(canvas, video) {
    this.canvas = canvas;
    this.video = video;
    this.detections = null; // the latest event with boxes, until it goes stale or is replaced
    this.lastAt = -Infinity; // frame time of the newest event, empty or not
    this.playing = false; // boxes belong to the video: none while it is not the picture shown
    this.staleTimer = null;
    // The picture moves when the element is resized or the stream changes resolution.
    new ResizeObserver(() => this.#draw()).observe(video);
    video.addEventListener('resize', () => this.#draw());
    video.addEventListener('emptied', () => this.clear()); // a new stream, or none
  }

  // Whether the video is the picture shown (WebRTC plays); when it stops, its boxes go with it.
  setPlaying(playing) {
    this.playing = playing;
    if (!playing) this.clear();
  }

  // A `detections` event: {at, size: [w, h], boxes: [[x, y, w, h, score], ...], ignored: [...]}
  // in frame pixels; `ignored` (outside every zone, or inside a mask) are drawn in amber.
  show({ at, size, boxes, ignored = [] }) {
    if (!this.playing) return;
    if (at < this.lastAt) return; // overtaken by a newer frame
    this.lastAt = at;
    clearTimeout(this.staleTimer);
    if (!boxes.length && !ignored.length) {
      this.clear();
      return;
    }
    this.detections = { at, size, boxes, ignored };
    this.staleTimer = setTimeout(() => this.clear(), STALE_MS);
    this.#draw();
  }

  clear() {
    clearTimeout(this.staleTimer);
    this.detections = null;
    this.#draw();
  }

  #draw() {
    const box = pictureBox(this.video);
    const ratio = devicePixelRatio || 1;
    Object.assign(this.canvas.style, {
      left: `${this.video.offsetLeft + box.x}px`,
      top: `${this.video.offsetTop + box.y}px`,
      width: `${box.width}px`,
      height: `${box.height}px`,
    });
    this.canvas.width = Math.round(box.width * ratio); // also clears it
    this.canvas.height = Math.round(box.height * ratio);
    if (!this.detections) return;
    const { size: [frameWidth, frameHeight], boxes, ignored } = this.detections;
    const sx = this.canvas.width / frameWidth;
    const sy = this.canvas.height / frameHeight;
    const ctx = this.canvas.getContext('2d');
    const line = Math.max(2, Math.round(2 * ratio));
    const fontPx = Math.round(12 * ratio);
    ctx.lineWidth = line;
    ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
    ctx.textBaseline = 'top';
    const shown = [
      ...boxes.map((b) => [b, BOX_COLOUR]),
      ...ignored.map((b) => [b, IGNORED_COLOUR]),
    ];
    for (const [[x, y, w, h, score], colour] of shown) {
      const left = x * sx;
      const top = y * sy;
      ctx.strokeStyle = colour;
      ctx.strokeRect(left, top, w * sx, h * sy);
      if (typeof score !== 'number') continue;
      // The score on a tab above the box, or inside it when the box touches the top edge.
      const label = `${Math.round(score * 100)}%`;
      const tab = { width: ctx.measureText(label).width + 2 * line, height: fontPx + 2 * line };
      const tabTop = top - tab.height >= 0 ? top - tab.height : top;
      ctx.fillStyle = colour;
      ctx.fillRect(left - line / 2, tabTop, tab.width, tab.height);
      ctx.fillStyle = LABEL_TEXT;
      ctx.fillText(label, left - line / 2 + line, tabTop + line);
    }
  }
}

// Calls onChange(ids) with the cameras whose picture is in view, each time that set changes:
// the page watches only those, so a long grid does not receive every camera's detections.
export function watchInView(pictures, onChange) {
  const inView = new Set();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const id = pictures.get(entry.target);
      if (entry.isIntersecting) inView.add(id);
      else inView.delete(id);
    }
    onChange([...inView].sort((a, b) => a - b));
  });
  for (const picture of pictures.keys()) observer.observe(picture);
}
