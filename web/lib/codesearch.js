// ICD-10-CM search for a diagnosis field: as staff type a code (J06) or
// words (sore throat), the field's datalist offers billable codes from
// GET /codes/icd10cm. In a field of `several` codes separated by commas
// only the last is searched, and each suggestion keeps the codes before it.

import { h } from './dom.js';

export function attachCodeSearch(input, datalist, api, { several = false } = {}) {
  input.setAttribute('list', datalist.id);
  let timer;
  let asked = '';
  input.addEventListener('input', () => {
    clearTimeout(timer);
    const value = input.value;
    const cut = several ? Math.max(value.lastIndexOf(','), value.lastIndexOf(';')) : -1;
    const prefix = cut < 0 ? '' : `${value.slice(0, cut + 1).trimEnd()} `;
    const query = value.slice(cut + 1).trim();
    if (query.length < 2 || value === asked) return;
    timer = setTimeout(async () => {
      asked = value;
      try {
        const matches = await api(`/codes/icd10cm?q=${encodeURIComponent(query)}&limit=20`);
        datalist.replaceChildren(...matches.filter((m) => m.billable).map((m) =>
          h('option', { value: `${prefix}${m.code}` }, `${m.code} — ${m.description}`)));
      } catch {
        // The search only helps: typing the code still works without it.
      }
    }, 200);
  });
}
