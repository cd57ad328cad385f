// Alert history page: snapshot lightbox, times in the browser's zone, acknowledge in place.
import { localizeTimes } from './format.js';
import { postForm } from './http.js';
import { enableLightbox } from './lightbox.js';

localizeTimes(document, { withDate: true });
enableLightbox();

for (const form of document.querySelectorAll('form[data-ack]')) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const button = form.querySelector('button');
    button.disabled = true;
    try {
      const alert = await postForm(form);
      const done = document.createElement('span');
      done.className = 'acked';
      done.textContent = `Acknowledged by ${alert.acknowledged_by}`;
      form.replaceWith(done);
    } catch (error) {
      console.error(error);
      form.submit(); // the plain form post shows the server's answer
    }
  });
}
