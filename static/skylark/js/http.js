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
