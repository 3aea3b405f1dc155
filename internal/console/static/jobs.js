// The jobs table: status filters, paging (AIP-158 page tokens) and live updates from the watch
// stream, plus the upload form.
import { h, clear, statusBadge, shortStatus, fmtTime, fmtBytes, detectors, STATUSES } from './ui.js';
import { uploadForm } from './upload.js';

export function jobsView(ctx) {
  const { api, main, prefs } = ctx;
  const rows = new Map(); // job id -> { job, tr }
  let tokens = ['']; // page tokens of the pages visited: tokens[i] opens page i
  let page = 0;
  let next = '';
  let loading = null;
  // Jobs seen in events while a page loads: the page may have been read before them.
  let pending = null;

  const tbody = h('tbody', { id: 'jobs-body' });
  const empty = h('p', { class: 'muted', id: 'jobs-empty', hidden: true }, 'No jobs.');
  const prev = h('button', { type: 'button', id: 'page-prev', class: 'ghost', on: { click: () => go(page - 1) } }, '← Newer');
  const more = h('button', { type: 'button', id: 'page-next', class: 'ghost', on: { click: () => go(page + 1) } }, 'Older →');
  const pageLabel = h('span', { class: 'muted', id: 'page-label' });
  const filters = h('fieldset', { class: 'filters', id: 'status-filters' },
    h('legend', {}, 'Status'),
    STATUSES.map((s) => {
      const input = h('input', { type: 'checkbox', value: s, checked: prefs.statuses.includes(s),
        on: { change: () => { prefs.statuses = [...filters.querySelectorAll('input:checked')].map((i) => i.value); reload(); } } });
      return h('label', { class: 'chip' }, input, ' ' + s.toLowerCase());
    }));
  const size = h('select', { id: 'page-size', on: { change: () => { prefs.pageSize = Number(size.value); reload(); } } },
    [10, 20, 50, 100].map((n) => h('option', { value: String(n), selected: n === prefs.pageSize }, n + ' per page')));

  main.append(
    uploadForm(ctx, (job) => upsert(job)),
    h('section', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Jobs'), filters, size,
        h('button', { type: 'button', class: 'ghost', on: { click: () => load() } }, 'Refresh')),
      h('table', { class: 'jobs', id: 'jobs' },
        h('thead', {}, h('tr', {}, ['Job', 'Status', 'Method', 'Anonymizes', 'Size', 'Created', 'Updated'].map((c) => h('th', {}, c)))),
        tbody),
      empty,
      h('div', { class: 'pager' }, prev, pageLabel, more)));

  function matches(job) {
    return !prefs.statuses.length || prefs.statuses.includes(shortStatus(job.status));
  }

  function row(job) {
    const id = job.id;
    const tr = h('tr', { dataset: { id, status: shortStatus(job.status) } },
      h('td', {}, h('a', { href: '#/jobs/' + encodeURIComponent(id), class: 'mono' }, id)),
      h('td', {}, statusBadge(job.status), job.error ? h('span', { class: 'muted small', title: job.error.message }, ' ' + (job.error.code || '')) : null),
      h('td', {}, job.method || 'blur'),
      h('td', {}, detectors(job)),
      h('td', { class: 'num' }, fmtBytes(job.input_size_bytes)),
      h('td', {}, fmtTime(job.create_time)),
      h('td', {}, fmtTime(job.update_time)));
    if (!matches(job)) tr.classList.add('stale'); // left the filter while shown: keep it, dimmed
    return tr;
  }

  // upsert shows a job's newer state: in place if it is on the page, at the top of the first
  // page if it is new and matches the filter.
  function upsert(job) {
    const have = rows.get(job.id);
    if (have) {
      if (Number(job.revision) <= Number(have.job.revision)) return; // already shown
      const tr = row(job);
      have.tr.replaceWith(tr);
      rows.set(job.id, { job, tr });
      return;
    }
    if (page !== 0 || !matches(job)) return;
    const tr = row(job);
    tbody.prepend(tr);
    rows.set(job.id, { job, tr });
    empty.hidden = true;
  }

  async function load() {
    if (loading) loading.abort();
    const ctl = new AbortController();
    loading = ctl;
    pending = new Map();
    try {
      const resp = await api.listJobs({ pageSize: prefs.pageSize, pageToken: tokens[page], statuses: prefs.statuses, signal: ctl.signal });
      if (ctl.signal.aborted) return;
      rows.clear();
      clear(tbody);
      for (const job of resp.jobs || []) {
        const tr = row(job);
        tbody.append(tr);
        rows.set(job.id, { job, tr });
      }
      for (const job of pending.values()) upsert(job);
      next = resp.next_page_token || '';
      empty.hidden = rows.size > 0;
      prev.disabled = page === 0;
      more.disabled = !next;
      pageLabel.textContent = 'Page ' + (page + 1);
    } catch (err) {
      if (err.name !== 'AbortError') ctx.toast('Listing jobs failed: ' + err.message, 'error');
    } finally {
      if (loading === ctl) { loading = null; pending = null; }
    }
  }

  function go(p) {
    if (p < 0 || (p > page && !next)) return;
    if (p > page) tokens[p] = next;
    page = p;
    tokens = tokens.slice(0, page + 1);
    load();
  }

  function reload() {
    tokens = [''];
    page = 0;
    load();
  }

  load();
  return {
    events(list) {
      for (const ev of list) {
        if (!ev.job) continue;
        if (pending) pending.set(ev.job.id, ev.job);
        upsert(ev.job);
      }
    },
    reset: reload,
    dispose() { if (loading) loading.abort(); },
  };
}
