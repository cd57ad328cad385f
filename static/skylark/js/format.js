// How times and counts read on the dashboard (the browser's locale and time zone; a 24-hour clock,
// like the one burned into the video).
const timeOnly = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const dateAndTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

// Today's times read as a clock; other days get their date (always, with `withDate`).
export function formatTime(iso, { withDate = false } = {}) {
  const at = new Date(iso);
  const today = new Date().toDateString() === at.toDateString();
  return (today && !withDate ? timeOnly : dateAndTime).format(at);
}

export function faces(count) {
  return `${count} face${count === 1 ? '' : 's'}`;
}

// A <time> element for `iso`, shown in the browser's time zone.
export function timeElement(iso) {
  const el = document.createElement('time');
  el.dateTime = iso;
  el.textContent = formatTime(iso);
  return el;
}

// Server-rendered <time datetime> elements are in the server's zone; show them in the browser's.
export function localizeTimes(root = document, { withDate = false } = {}) {
  for (const el of root.querySelectorAll('time[datetime]')) {
    el.textContent = formatTime(el.dateTime, { withDate });
  }
}
