// DOM helpers. Everything the console shows is built with createElement and text nodes: no
// string is ever parsed as HTML (the page's CSP enforces that with Trusted Types).

// h builds an element: attrs sets properties for known DOM properties and attributes
// otherwise; "on" takes event handlers; children are nodes, strings or arrays of them.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') {
      for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
    } else if (k === 'class') {
      el.className = v;
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k in el && typeof v !== 'string') {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

// toast shows a short message at the bottom of the page.
export function toast(text, kind = 'info') {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.className = 'toast ' + kind;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, kind === 'error' ? 8000 : 4000);
}

export const STATUSES = ['QUEUED', 'PROCESSING', 'DONE', 'FAILED', 'CANCELLED'];
export const FINAL = new Set(['DONE', 'FAILED', 'CANCELLED']);

// shortStatus turns JOB_STATUS_DONE into DONE.
export function shortStatus(s) {
  return String(s || 'UNSPECIFIED').replace(/^JOB_STATUS_/, '').replace(/^DELIVERY_STATE_/, '');
}

export function statusBadge(s) {
  const name = shortStatus(s);
  return h('span', { class: 'badge s-' + name.toLowerCase() }, name);
}

export function fmtTime(ts) {
  if (!ts) return '—';
  const d = new Date(ts);
  return Number.isNaN(d.getTime()) ? ts : d.toLocaleString();
}

export function fmtBytes(n) {
  n = Number(n || 0);
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

// detectors lists what a job anonymizes.
export function detectors(job) {
  const on = [];
  if (job.face) on.push('face');
  if (job.license_plate) on.push('licence plate');
  if (job.person) on.push('person');
  if (job.vehicle) on.push('vehicle');
  return on.length ? on.join(', ') : '—';
}
