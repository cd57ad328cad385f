// Snapshot lightbox: any [data-lightbox] link or button opens its picture in the page's <dialog>.
export function enableLightbox(dialog = document.getElementById('lightbox')) {
  if (!dialog) return;
  const image = dialog.querySelector('img');
  const caption = dialog.querySelector('.lightbox-caption');
  document.addEventListener('click', (event) => {
    const trigger = event.target.closest('[data-lightbox]');
    if (!trigger) return;
    event.preventDefault();
    image.src = trigger.dataset.lightbox || trigger.href;
    image.alt = trigger.querySelector('img')?.alt ?? 'Alert snapshot';
    caption.textContent = trigger.dataset.caption ?? '';
    dialog.showModal();
  });
  // A click on the backdrop (outside the picture) closes it, as people expect.
  dialog.addEventListener('click', (event) => {
    if (event.target === dialog) dialog.close();
  });
  dialog.addEventListener('close', () => image.removeAttribute('src'));
}
