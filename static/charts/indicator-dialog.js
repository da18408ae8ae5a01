// The add/edit indicator dialog: a searchable catalog (from the indicators API) and the
// chosen indicator's parameter fields. It builds the positional spec string the API takes
// (``NAME_p1_p2``; advanced params only when changed from their default). If the catalog
// cannot be read, an id can still be typed (``RSI_14``).

import { loadCatalog } from './indicators.js';

const dialog = () => document.getElementById('indicator-dialog');
const GROUP_ORDER = ['Overlap Studies', 'Momentum Indicators', 'Volatility Indicators', 'Volume Indicators', 'Pattern Recognition'];

function formatNumber(v) {
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(10));
}

export function buildSpec(def, values) {
  const params = def.params || [];
  let last = -1;
  params.forEach((p, i) => {
    // advanced params (MA types: the ones with choices) only when changed
    const advanced = p.advanced || !!p.choices;
    if (!advanced || Number(values[p.name]) !== Number(p.default)) last = i;
  });
  const parts = [def.name];
  for (let i = 0; i <= last; i++) parts.push(formatNumber(Number(values[params[i].name])));
  return parts.join('_');
}

export function parseSpec(spec, catalog) {
  const tokens = spec.split('_');
  let k = 1;
  while (k < tokens.length && !/^-?\d/.test(tokens[k])) k++;
  const name = tokens.slice(0, k).join('_').toUpperCase();
  const def = catalog.find((d) => d.name.toUpperCase() === name);
  const values = {};
  if (def) {
    (def.params || []).forEach((p, i) => {
      const raw = tokens[k + i];
      values[p.name] = raw !== undefined && raw !== '' ? Number(raw) : p.default;
    });
  }
  return { def, values };
}

export async function openIndicatorDialog({ pane, edit = null, urls, limit }) {
  const root = dialog();
  const list = root.querySelector('.ind-list');
  const search = root.querySelector('.ind-search');
  const form = root.querySelector('.ind-form');
  const message = root.querySelector('.ind-message');
  const title = root.querySelector('.ind-title');
  title.textContent = edit ? `Edit ${edit.spec.replaceAll('_', ' ')}` : 'Indicators';
  message.textContent = '';
  form.innerHTML = '';
  list.innerHTML = '<div class="muted pad">Loading catalog…</div>';
  search.value = '';
  if (!root.open) root.showModal();
  const atLimit = !edit && pane.state.indicators.length >= limit;
  if (atLimit) {
    message.innerHTML = `Your plan allows ${limit} indicators per chart. <a href="/">Upgrade your plan</a> to add more, or remove one first.`;
  }

  let catalog = [];
  try {
    catalog = await loadCatalog(urls.indicator_catalog);
  } catch {
    list.innerHTML = '';
    showManual(form, pane, edit, atLimit, root);
    message.textContent ||= 'The indicator catalog is unavailable; type an id such as RSI_14.';
    return;
  }

  const pick = (def, values) => showParams(form, def, values, pane, edit, atLimit, root);
  const renderList = () => {
    const q = search.value.trim().toLowerCase();
    const groups = new Map();
    for (const def of catalog) {
      const hay = `${def.name} ${def.title || ''} ${def.group || ''}`.toLowerCase();
      if (q && !hay.includes(q)) continue;
      const g = def.group || 'Other';
      if (!groups.has(g)) groups.set(g, []);
      groups.get(g).push(def);
    }
    list.innerHTML = '';
    const order = (g) => {
      const i = GROUP_ORDER.indexOf(g);
      return i < 0 ? GROUP_ORDER.length : i;
    };
    for (const [group, defs] of [...groups].sort((a, b) => order(a[0]) - order(b[0]))) {
      const h = document.createElement('div');
      h.className = 'ind-group';
      h.textContent = group;
      list.appendChild(h);
      for (const def of defs.slice(0, 200)) {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'ind-item';
        b.dataset.name = def.name;
        b.innerHTML = `<b></b><span></span><i></i>`;
        b.querySelector('b').textContent = def.name;
        b.querySelector('span').textContent = def.title || '';
        b.querySelector('i').textContent = def.overlay ? 'overlay' : 'pane';
        b.addEventListener('click', () => pick(def, {}));
        list.appendChild(b);
      }
    }
    if (!groups.size) list.innerHTML = '<div class="muted pad">No indicator matches.</div>';
  };
  search.oninput = renderList;
  renderList();
  if (edit) {
    const { def, values } = parseSpec(edit.spec, catalog);
    if (def) pick(def, values);
    else showManual(form, pane, edit, atLimit, root);
  }
  search.focus();
}

function showParams(form, def, values, pane, edit, atLimit, root) {
  form.innerHTML = '';
  const head = document.createElement('div');
  head.className = 'ind-form-head';
  head.textContent = `${def.name} — ${def.title || ''}`;
  form.appendChild(head);
  const fields = document.createElement('div');
  fields.className = 'ind-fields';
  for (const p of def.params || []) {
    const label = document.createElement('label');
    label.innerHTML = '<span></span>';
    label.querySelector('span').textContent = p.name;
    label.title = p.description || '';
    let input;
    if (p.choices) {
      input = document.createElement('select');
      for (const [value, text] of Object.entries(p.choices)) {
        const option = document.createElement('option');
        option.value = value;
        option.textContent = text;
        input.appendChild(option);
      }
    } else {
      input = document.createElement('input');
      input.type = 'number';
      input.required = true;
      if (p.min !== undefined && p.min !== null) input.min = p.min;
      if (p.max !== undefined && p.max !== null) input.max = p.max;
      input.step = p.type === 'int' ? '1' : 'any';
    }
    input.name = p.name;
    input.value = String(values[p.name] ?? p.default);
    label.appendChild(input);
    fields.appendChild(label);
  }
  form.appendChild(fields);
  const submit = document.createElement('button');
  submit.type = 'submit';
  submit.className = 'button primary small';
  submit.textContent = edit ? 'Apply' : 'Add to chart';
  submit.disabled = atLimit;
  form.appendChild(submit);
  form.onsubmit = (e) => {
    e.preventDefault();
    if (!form.reportValidity()) return;
    const vals = {};
    for (const input of form.querySelectorAll('input, select')) vals[input.name] = input.value;
    const spec = buildSpec(def, vals);
    if (!pane.indicators) return root.close(); // the chart has no data (yet)
    if (edit) pane.indicators.replace(edit.id, spec);
    else pane.indicators.add(spec);
    root.close();
  };
}

function showManual(form, pane, edit, atLimit, root) {
  form.innerHTML = `<label class="ind-manual"><span>Indicator id</span>
    <input name="spec" placeholder="RSI_14" pattern="[A-Za-z][A-Za-z0-9_.\\-]*" required></label>`;
  const input = form.querySelector('input');
  input.value = edit ? edit.spec : '';
  const submit = document.createElement('button');
  submit.type = 'submit';
  submit.className = 'button primary small';
  submit.textContent = edit ? 'Apply' : 'Add to chart';
  submit.disabled = atLimit;
  form.appendChild(submit);
  form.onsubmit = (e) => {
    e.preventDefault();
    if (!form.reportValidity() || !pane.indicators) return;
    if (edit) pane.indicators.replace(edit.id, input.value.trim().toUpperCase());
    else pane.indicators.add(input.value.trim().toUpperCase());
    root.close();
  };
}
