// A search-as-you-type code picker (the ARIA combobox with a listbox
// popup): as the clinician types, `search(text)` is asked for options
// `{code, label, detail, value}`; arrow keys move through them (the input
// keeps focus and names the option with aria-activedescendant), Enter or a
// click picks one, Escape closes the list. Typing after a pick drops the
// code: what is typed then is free text.

import { h } from './dom.js';

let pickers = 0;

export function codePicker({ id, label, hint, testid, search, required = false, unpicked = 'Not coded: free text.' }) {
  const n = ++pickers;
  const listId = `${id}-options`;
  const hintId = `${id}-hint`;
  const chosenId = `${id}-chosen`;
  const input = h('input', {
    id, type: 'text', role: 'combobox', autocomplete: 'off', required,
    'aria-autocomplete': 'list', 'aria-expanded': 'false', 'aria-controls': listId,
    'aria-describedby': `${hintId} ${chosenId}`, 'data-testid': `${testid}-search`,
  });
  const list = h('ul', { id: listId, role: 'listbox', class: 'code-options', hidden: true, 'aria-label': `${label} matches`, 'data-testid': `${testid}-options` });
  const chosen = h('p', { id: chosenId, class: 'meta code-chosen', 'aria-live': 'polite', 'data-testid': `${testid}-chosen` });
  const element = h('div', { class: 'code-picker' },
    h('label', { for: id }, label),
    h('p', { id: hintId, class: 'hint' }, hint),
    input, list, chosen);

  let options = [];
  let active = -1;
  let picked = null;
  let timer;
  let asked = 0;

  const optionId = (i) => `${id}-option-${n}-${i}`;

  function close() {
    list.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }

  function show(i) {
    active = i;
    for (const [j, li] of [...list.children].entries()) li.setAttribute('aria-selected', String(j === i));
    if (i < 0) {
      input.removeAttribute('aria-activedescendant');
      return;
    }
    input.setAttribute('aria-activedescendant', optionId(i));
    list.children[i]?.scrollIntoView({ block: 'nearest' });
  }

  function describe() {
    chosen.textContent = picked ? `Coded: ${picked.detail}` : (input.value.trim() ? unpicked : '');
  }

  function pick(i) {
    const option = options[i];
    if (!option) return;
    picked = option;
    input.value = option.value;
    close();
    describe();
  }

  function render() {
    list.replaceChildren(...options.map((o, i) => h('li', {
      id: optionId(i), role: 'option', 'aria-selected': 'false', 'data-testid': `${testid}-option-${o.code}`,
      onmousedown: (event) => event.preventDefault(), // keep focus in the input
      onclick: () => pick(i),
    }, h('span', {}, o.label), ' ', h('span', { class: 'meta' }, o.detail))));
    const open = options.length > 0;
    list.hidden = !open;
    input.setAttribute('aria-expanded', String(open));
    show(-1);
  }

  input.addEventListener('input', () => {
    picked = null;
    describe();
    clearTimeout(timer);
    const text = input.value.trim();
    if (text.length < 2) {
      options = [];
      render();
      return;
    }
    timer = setTimeout(async () => {
      const mine = ++asked;
      try {
        const found = await search(text);
        if (mine !== asked) return;
        options = found;
        render();
      } catch {
        // The search only helps: free text still works without it.
      }
    }, 150);
  });

  input.addEventListener('keydown', (event) => {
    const open = !list.hidden && options.length > 0;
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      if (!open && options.length) render();
      show(Math.min(active + 1, options.length - 1));
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      if (open) show(Math.max(active - 1, 0));
    } else if (event.key === 'Enter' && open && active >= 0) {
      event.preventDefault();
      pick(active);
    } else if (event.key === 'Escape' && open) {
      event.preventDefault();
      close();
    }
  });
  input.addEventListener('blur', close);

  return {
    element,
    input,
    /** The chosen option, or null when the text is free. */
    get picked() { return picked; },
    reset() {
      input.value = '';
      picked = null;
      options = [];
      render();
      describe();
    },
  };
}
