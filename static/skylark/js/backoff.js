// Retry delays that double up to a ceiling, with jitter so many open dashboards do not retry in step.
export class Backoff {
  constructor({ initialMs = 500, maxMs = 15000 } = {}) {
    this.initialMs = initialMs;
    this.maxMs = maxMs;
    this.attempt = 0;
  }

  next() {
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** this.attempt);
    this.attempt += 1;
    return ceiling / 2 + (Math.random() * ceiling) / 2;
  }

  reset() {
    this.attempt = 0;
  }
}
