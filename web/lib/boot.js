// Loaded as a classic script before each page's module. When one of the
// page's own files fails to load (a network change mid-load aborts them),
// the page would sit half built, looking ready and doing nothing: say so,
// and offer the reload that mends it.
(() => {
  let shown = false;

  function show() {
    if (shown) return;
    shown = true;
    const notice = document.createElement('div');
    notice.className = 'notice load-failed';
    notice.setAttribute('role', 'alert');
    notice.dataset.testid = 'load-failed';
    const text = document.createElement('p');
    text.textContent = 'This page did not load completely, most likely because the network changed or dropped while it loaded. Reload it to carry on.';
    const reload = document.createElement('button');
    reload.type = 'button';
    reload.textContent = 'Reload the page';
    reload.dataset.testid = 'reload';
    reload.addEventListener('click', () => location.reload());
    notice.append(text, reload);
    const place = () => {
      document.body.prepend(notice);
      reload.focus();
    };
    if (document.body) place();
    else document.addEventListener('DOMContentLoaded', place, { once: true });
  }

  // Load errors do not bubble; a capturing listener on the window sees them.
  window.addEventListener('error', (event) => {
    const element = event.target;
    if (element instanceof HTMLScriptElement || element instanceof HTMLLinkElement) show();
  }, true);
})();
