// Same-origin requests of the dashboard's scripts, with the session cookie.

// Posts a <form> (its CSRF token travels in the form data) and returns the view's JSON answer.
export async function postForm(form) {
  const response = await fetch(form.action, {
    method: 'POST',
    body: new FormData(form),
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error(`${form.action}: HTTP ${response.status}`);
  return response.json();
}

export async function getJSON(url) {
  const response = await fetch(url, {
    headers: { Accept: 'application/json' },
    credentials: 'same-origin',
  });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// Sends `data` as JSON with the session cookie and the page's CSRF token (DRF's session
// authentication checks it on writes). Resolves to the answer whatever its status, so callers
// can show the API's validation messages; rejects only when the server was not reached.
export async function sendJSON(url, method, data, csrfToken) {
  const response = await fetch(url, {
    method,
    body: JSON.stringify(data),
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'X-CSRFToken': csrfToken },
    credentials: 'same-origin',
  });
  const body = await response.json().catch(() => null);
  return { ok: response.ok, status: response.status, body };
}
