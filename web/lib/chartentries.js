// The chart's allergies, medications and problems beside the call: the
// current ones listed with an End / Stop / Resolve button (confirmed, with
// an optional reason), the ended ones folded under "Past", and a form to
// add one, coded from the knowledge tables through a code picker (RxNorm
// or SNOMED CT for substances and drugs, ICD-10-CM for problems) or, for
// allergies and medications, as uncoded free text.

import { h, date } from './dom.js';
import { codePicker } from './codepicker.js';

const SYSTEM_LABEL = {
  rxnorm: 'RxNorm',
  snomed: 'SNOMED CT',
  'http://www.nlm.nih.gov/research/umls/rxnorm': 'RxNorm',
  'http://snomed.info/sct': 'SNOMED CT',
};

const substanceSearch = (api, path) => async (text) => {
  const found = await api(`${path}?q=${encodeURIComponent(text)}&limit=10`);
  return found.map((s) => ({
    code: s.code, system: s.system, value: s.name, label: s.name, detail: `${SYSTEM_LABEL[s.system]} ${s.code}`,
  }));
};

const codeBadge = (system, code) => (code
  ? h('span', { class: 'badge code' }, `${SYSTEM_LABEL[system] ?? 'Code'} ${code}`)
  : h('span', { class: 'badge uncoded' }, 'uncoded'));

const KINDS = {
  allergy: {
    title: 'Allergies', testid: 'allergies', path: 'allergies', add: 'Add allergy', end: 'End',
    empty: 'No known allergies recorded.',
    noneCurrent: 'No current allergies.',
    isCurrent: (a) => a.status === 'active',
    name: (a) => a.substance,
    ends: [['resolved', 'Resolved'], ['inactive', 'Inactive'], ['entered-in-error', 'Entered in error']],
    statusOf: (a) => a.status,
    describe: (a) => [h('strong', {}, a.substance), a.reaction ? ` — ${a.reaction}` : '', a.severity ? ` (${a.severity})` : '', ' ', codeBadge(a.code_system, a.code)],
    picker: (api) => ({ label: 'Substance', hint: 'Type a drug or substance, then choose it to code it; or leave it as free text.', search: substanceSearch(api, '/codes/substances') }),
    fields: (noun) => [
      h('label', { for: `${noun}-reaction` }, 'Reaction (optional)'),
      h('input', { id: `${noun}-reaction`, name: 'reaction', type: 'text', maxlength: 200, 'data-testid': `${noun}-reaction` }),
      h('label', { for: `${noun}-severity` }, 'Severity (optional)'),
      h('select', { id: `${noun}-severity`, name: 'severity', 'data-testid': `${noun}-severity` },
        h('option', { value: '' }, 'Not known'), h('option', { value: 'mild' }, 'Mild'),
        h('option', { value: 'moderate' }, 'Moderate'), h('option', { value: 'severe' }, 'Severe')),
    ],
    body: (form, text, picked) => ({
      substance: text,
      ...(picked ? { code: picked.code, system: picked.system } : {}),
      ...(form.reaction.value.trim() ? { reaction: form.reaction.value.trim() } : {}),
      ...(form.severity.value ? { severity: form.severity.value } : {}),
    }),
  },
  medication: {
    title: 'Medications', testid: 'medications', path: 'medications', add: 'Add medication', end: 'Stop',
    empty: 'No medications recorded.',
    noneCurrent: 'No current medications.',
    isCurrent: (m) => m.status === 'active',
    name: (m) => m.name,
    ends: [['stopped', 'Stopped'], ['entered-in-error', 'Entered in error']],
    statusOf: (m) => m.status,
    describe: (m) => [h('strong', {}, m.name), ' ', codeBadge('rxnorm', m.code)],
    picker: (api) => ({ label: 'Medication', hint: 'Type a drug name, then choose it to code it in RxNorm; or leave it as free text.', search: substanceSearch(api, '/codes/rxnorm') }),
    fields: () => [],
    body: (form, text, picked) => ({ name: text, ...(picked ? { code: picked.code } : {}) }),
  },
  problem: {
    title: 'Problems and diagnoses', testid: 'conditions', path: 'conditions', add: 'Add problem', end: 'Resolve',
    empty: 'None recorded.',
    noneCurrent: 'No current problems.',
    isCurrent: (c) => ['active', 'recurrence', 'relapse'].includes(c.clinical_status),
    name: (c) => c.display ?? c.code,
    ends: [['resolved', 'Resolved'], ['inactive', 'Inactive'], ['remission', 'In remission']],
    statusOf: (c) => c.clinical_status,
    describe: (c) => [h('code', {}, c.code), c.display ? ` ${c.display}` : '', c.encounter_id ? h('span', { class: 'meta' }, ' (visit diagnosis)') : ''],
    picker: (api) => ({
      label: 'Problem', hint: 'Type a condition or an ICD-10-CM code, then choose it.', required: true,
      unpicked: 'Not chosen yet: choose the problem from the list.',
      search: async (text) => {
        const found = await api(`/codes/icd10cm?q=${encodeURIComponent(text)}&limit=10`);
        return found.map((c) => ({ code: c.code, value: c.description, label: `${c.code} ${c.description}`, detail: `ICD-10-CM ${c.code}` }));
      },
    }),
    fields: () => [],
    body: (form, text, picked) => (picked ? { code: picked.code, display: text } : null),
    uncoded: 'Choose the problem from the list: problems are coded in ICD-10-CM.',
  },
};

/**
 * The section for one kind (`allergy`, `medication`, `problem`), listing
 * `items`; after a change it reloads its list and calls `onChange`.
 */
export function entrySection(noun, { api, patientId, items, onChange = () => {} }) {
  const kind = KINDS[noun];
  const headingId = `chart-${kind.testid}`;
  const status = h('p', { class: 'visually-hidden', role: 'status', 'data-testid': `${noun}-status` });
  const body = h('div', {});
  const addButton = h('button', {
    type: 'button', class: 'secondary small', 'data-testid': `add-${noun}`, 'aria-expanded': 'false', 'aria-controls': `${noun}-form`,
  }, kind.add);
  const form = addForm(noun, kind, api, patientId, async (added) => {
    closeForm();
    await reload(`${kind.name(added)} added.`);
    addButton.focus();
  });
  form.element.hidden = true;
  const openForm = () => {
    form.element.hidden = false;
    addButton.setAttribute('aria-expanded', 'true');
    form.picker.input.focus();
  };
  const closeForm = () => {
    form.element.hidden = true;
    form.reset();
    addButton.setAttribute('aria-expanded', 'false');
  };
  addButton.addEventListener('click', () => (form.element.hidden ? openForm() : closeForm()));
  form.onCancel = () => { closeForm(); addButton.focus(); };

  async function reload(message) {
    try {
      items = await api(`/patients/${encodeURIComponent(patientId)}/${kind.path}`);
    } catch (e) {
      status.textContent = e.message;
    }
    render();
    status.textContent = message;
    onChange();
  }

  function render() {
    const current = items.filter(kind.isCurrent);
    const past = items.filter((item) => !kind.isCurrent(item));
    body.replaceChildren(...[
      current.length
        ? h('ul', { class: 'entries' }, current.map((item) => currentItem(item)))
        : h('p', { class: 'empty' }, past.length ? kind.noneCurrent : kind.empty),
      past.length
        ? h('details', { class: 'past', 'data-testid': `${noun}-past` },
          h('summary', {}, `Past (${past.length})`),
          h('ul', { class: 'entries' }, past.map((item) => h('li', { 'data-testid': `${noun}-${item.id}` },
            ...kind.describe(item), ' ', h('span', { class: 'badge status' }, kind.statusOf(item)),
            item.ended ? h('span', { class: 'meta' }, ` ${date(item.ended.at)}${item.ended.reason ? ` — ${item.ended.reason}` : ''}`) : ''))))
        : null,
    ].filter(Boolean));
  }

  function currentItem(item) {
    const name = kind.name(item);
    const li = h('li', { 'data-testid': `${noun}-${item.id}` });
    const endButton = h('button', {
      type: 'button', class: 'secondary small', 'data-testid': `end-${noun}-${item.id}`, 'aria-label': `${kind.end} ${name}`,
      onclick: () => confirmEnd(),
    }, kind.end);
    const line = h('div', { class: 'entry-line' }, h('span', {}, ...kind.describe(item)), endButton);
    li.append(line);

    function confirmEnd() {
      const statusId = `end-status-${item.id}`;
      const reasonId = `end-reason-${item.id}`;
      const error = h('p', { class: 'field-error', role: 'alert' });
      const select = h('select', { id: statusId, 'data-testid': `end-status-${item.id}` },
        kind.ends.map(([value, label]) => h('option', { value }, label)));
      const reason = h('input', { id: reasonId, type: 'text', maxlength: 200, 'data-testid': `end-reason-${item.id}` });
      const cancel = () => { confirm.remove(); endButton.hidden = false; endButton.focus(); };
      const confirm = h('form', { class: 'end-confirm', 'aria-label': `${kind.end} ${name}`, novalidate: true,
        onsubmit: async (event) => {
          event.preventDefault();
          const submit = event.submitter ?? confirm.querySelector('[type=submit]');
          submit.disabled = true;
          const payload = { status: select.value, ...(reason.value.trim() ? { reason: reason.value.trim() } : {}) };
          try {
            await api(`/patients/${encodeURIComponent(patientId)}/${kind.path}/${encodeURIComponent(item.id)}/end`, { method: 'POST', body: payload });
            await reload(`${name} moved to past.`);
            addButton.focus();
          } catch (e) {
            error.textContent = e.message;
            submit.disabled = false;
          }
        },
        onkeydown: (event) => { if (event.key === 'Escape') { event.preventDefault(); cancel(); } },
      },
      h('p', {}, `${kind.end} ${name}?`),
      h('label', { for: statusId }, 'Why it ends'), select,
      h('label', { for: reasonId }, 'Note (optional)'), reason,
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'danger small', 'data-testid': `confirm-end-${noun}-${item.id}` }, `Confirm: ${kind.end.toLowerCase()}`),
        h('button', { type: 'button', class: 'secondary small', onclick: cancel }, 'Cancel')));
      endButton.hidden = true;
      li.append(confirm);
      select.focus();
    }
    return li;
  }

  render();
  return h('section', { class: 'chart-section', 'aria-labelledby': headingId, 'data-testid': `chart-${kind.testid}` },
    h('h3', { id: headingId }, kind.title), status, body, addButton, form.element);
}

function addForm(noun, kind, api, patientId, added) {
  const picker = codePicker({ id: `${noun}-name`, testid: noun, ...kind.picker(api) });
  const error = h('p', { class: 'field-error', role: 'alert', 'data-testid': `${noun}-error` });
  const self = { picker, onCancel: () => {} };
  const element = h('form', {
    id: `${noun}-form`, class: 'entry-form', novalidate: true, 'aria-label': kind.add,
    onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = '';
      picker.input.removeAttribute('aria-invalid');
      const text = picker.input.value.trim();
      const fail = (message) => {
        error.textContent = message;
        picker.input.setAttribute('aria-invalid', 'true');
        picker.input.focus();
      };
      if (!text) return fail(`Type the ${picker.element.querySelector('label').textContent.toLowerCase()} first.`);
      const body = kind.body(element, text, picker.picked);
      if (!body) return fail(kind.uncoded);
      const save = element.querySelector('[type=submit]');
      save.disabled = true;
      try {
        const entry = await api(`/patients/${encodeURIComponent(patientId)}/${kind.path}`, { method: 'POST', body });
        await added(entry);
      } catch (e) {
        fail(e.message);
      } finally {
        save.disabled = false;
      }
    },
    onkeydown: (event) => {
      // An Escape that closed the picker's list closes only that.
      if (event.key === 'Escape' && !event.defaultPrevented) {
        event.preventDefault();
        self.onCancel();
      }
    },
  },
  picker.element,
  ...kind.fields(noun),
  error,
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'small', 'data-testid': `${noun}-save` }, 'Save'),
    h('button', { type: 'button', class: 'secondary small', onclick: () => self.onCancel() }, 'Cancel')));
  self.element = element;
  self.reset = () => {
    element.reset();
    picker.reset();
    error.textContent = '';
    picker.input.removeAttribute('aria-invalid');
  };
  return self;
}
