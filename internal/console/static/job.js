// One job: its fields, the original and anonymized images side by side (fetched with the key,
// shown through blob: URLs) with a mask overlay, the detections, the client webhook deliveries,
// and the cancel and redeliver actions. It follows the job on the shared watch stream.
import { h, clear, statusBadge, shortStatus, fmtTime, fmtBytes, detectors, FINAL } from './ui.js';

const DELIVERY_POLL_MS = 5000;

export function jobView(ctx, id) {
  const { api, main } = ctx;
  const ctl = new AbortController();
  const urls = []; // blob: URLs to revoke when the view goes
  let job = null;
  let filesLoaded = false;
  let poll = null;
  let mask = null; // { canvas } once drawn
  let meta = null; // the metadata file, once loaded

  const title = h('h1', {}, 'Job ', h('span', { class: 'mono' }, id));
  const badge = h('span', { id: 'job-status' });
  const cancel = h('button', { type: 'button', id: 'cancel', class: 'danger', disabled: true, on: { click: onCancel } }, 'Cancel job');
  const redeliver = h('button', { type: 'button', id: 'redeliver', disabled: true, on: { click: onRedeliver } }, 'Redeliver webhook');
  const details = h('dl', { class: 'details', id: 'job-details' });
  const original = h('img', { id: 'original', alt: 'original image' });
  const anonymized = h('img', { id: 'anonymized', alt: 'anonymized image' });
  const overlay = h('canvas', { id: 'mask-overlay', class: 'overlay', hidden: true });
  const maskToggle = h('input', { type: 'checkbox', id: 'mask-toggle', disabled: true, on: { change: onToggleMask } });
  const imagesNote = h('p', { class: 'muted', id: 'images-note' }, 'The images are shown once the job is done.');
  const detectionsBody = h('tbody', { id: 'detections-body' });
  const detectionsNote = h('p', { class: 'muted', id: 'detections-note' }, 'Detections come with the finished job.');
  const deliveriesBox = h('div', { id: 'deliveries' }, h('p', { class: 'muted' }, 'Loading…'));

  main.append(
    h('p', {}, h('a', { href: '#/' }, '← All jobs')),
    h('section', { class: 'card' },
      h('div', { class: 'toolbar' }, title, badge, h('span', { class: 'spacer' }), cancel, redeliver),
      details),
    h('section', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Images'), h('span', { class: 'spacer' }),
        h('label', { class: 'check', for: 'mask-toggle' }, maskToggle, ' Show mask and detections on the original')),
      imagesNote,
      h('div', { class: 'images' },
        h('figure', {}, h('div', { class: 'frame' }, original, overlay), h('figcaption', {}, 'Original')),
        h('figure', {}, h('div', { class: 'frame' }, anonymized), h('figcaption', {}, 'Anonymized')))),
    h('section', { class: 'card' }, h('h2', {}, 'Detections'), detectionsNote,
      h('table', { class: 'detections', id: 'detections' },
        h('thead', {}, h('tr', {}, ['#', 'Type', 'Score', 'Box (x1, y1 – x2, y2)', 'Anonymized'].map((c) => h('th', {}, c)))),
        detectionsBody)),
    h('section', { class: 'card' },
      h('div', { class: 'toolbar' }, h('h2', {}, 'Webhook deliveries'), h('span', { class: 'spacer' }),
        h('button', { type: 'button', class: 'ghost', on: { click: () => loadDeliveries() } }, 'Refresh')),
      deliveriesBox));

  function show(j) {
    if (job && Number(j.revision) <= Number(job.revision)) return;
    job = j;
    const status = shortStatus(j.status);
    clear(badge).append(statusBadge(j.status));
    badge.dataset.status = status;
    cancel.disabled = FINAL.has(status);
    redeliver.disabled = !FINAL.has(status) || !j.callback_url;
    redeliver.title = j.callback_url ? '' : 'The job has no webhook URL';
    const rows = [
      ['Status', status], ['Method', j.method || 'blur'], ['Anonymizes', detectors(j)],
      ['Image', (j.content_type || '') + ', ' + fmtBytes(j.input_size_bytes)],
      ['Request id', j.request_id || '—'], ['Webhook URL', j.callback_url || '—'],
      ['Engine file', j.provider_file_id || '—'], ['Created', fmtTime(j.create_time)],
      ['Updated', fmtTime(j.update_time)], ['Revision', j.revision],
    ];
    if (j.error) rows.push(['Error', (j.error.code || '') + ': ' + (j.error.message || '')]);
    clear(details).append(...rows.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
    if (status === 'DONE' && !filesLoaded) loadFiles();
    else if (FINAL.has(status) && status !== 'DONE') imagesNote.textContent = 'The job ended ' + status.toLowerCase() + ': there are no result images.';
  }

  async function blobURL(kind) {
    const blob = await api.file(id, kind, ctl.signal);
    const u = URL.createObjectURL(blob);
    urls.push(u);
    return u;
  }

  async function loadFiles() {
    filesLoaded = true;
    imagesNote.textContent = 'Loading images…';
    const results = await Promise.allSettled([
      blobURL('original').then((u) => { original.src = u; }),
      blobURL('anonymized').then((u) => { anonymized.src = u; }),
      loadDetections(),
    ]);
    if (ctl.signal.aborted) return;
    const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
    imagesNote.textContent = failed.length ? 'Some files could not be loaded: ' + failed.join('; ') : '';
    imagesNote.hidden = !failed.length;
    maskToggle.disabled = false;
  }

  async function loadDetections() {
    const blob = await api.file(id, 'metadata', ctl.signal);
    meta = JSON.parse(await blob.text());
    const list = meta.detections || [];
    detectionsNote.textContent = list.length ? '' : 'Nothing was detected.';
    detectionsNote.hidden = list.length > 0;
    clear(detectionsBody).append(...list.map((d) => h('tr', {},
      h('td', {}, d.id), h('td', {}, d.type_label), h('td', { class: 'num' }, Number(d.score).toFixed(3)),
      h('td', { class: 'mono' }, d.bbox ? `${d.bbox[0]}, ${d.bbox[1]} – ${d.bbox[2]}, ${d.bbox[3]}` : '—'),
      h('td', {}, d.is_anonymized ? 'yes' : 'no'))));
  }

  async function onToggleMask() {
    if (!maskToggle.checked) { overlay.hidden = true; return; }
    if (!mask) {
      maskToggle.disabled = true;
      try {
        await drawMask();
      } catch (err) {
        if (err.name === 'AbortError') return;
        maskToggle.checked = false;
        ctx.toast('The mask could not be loaded: ' + err.message, 'error');
        return;
      } finally {
        maskToggle.disabled = false;
      }
    }
    overlay.hidden = !maskToggle.checked;
  }

  // drawMask paints the binary mask (white where the engine anonymized) in translucent red,
  // and each detection's box, onto a canvas the size of the image laid over the original.
  async function drawMask() {
    const img = new Image();
    img.src = await blobURL('binary-mask');
    await img.decode();
    overlay.width = img.naturalWidth;
    overlay.height = img.naturalHeight;
    const g = overlay.getContext('2d');
    g.drawImage(img, 0, 0);
    const px = g.getImageData(0, 0, overlay.width, overlay.height);
    for (let i = 0; i < px.data.length; i += 4) {
      const on = px.data[i] > 127;
      px.data[i] = 255; px.data[i + 1] = 30; px.data[i + 2] = 90; px.data[i + 3] = on ? 120 : 0;
    }
    g.putImageData(px, 0, 0);
    const scale = Math.max(1, overlay.width / 400);
    g.lineWidth = 2 * scale;
    g.font = `${Math.round(12 * scale)}px sans-serif`;
    for (const d of (meta && meta.detections) || []) {
      if (!d.bbox) continue;
      const [x1, y1, x2, y2] = d.bbox;
      g.strokeStyle = d.is_anonymized ? '#ffd400' : '#00e0ff';
      g.strokeRect(x1, y1, x2 - x1, y2 - y1);
      const label = `${d.type_label} ${Number(d.score).toFixed(2)}`;
      const ty = Math.max(14 * scale, y1 - 3 * scale);
      g.fillStyle = 'rgb(0 0 0 / 65%)';
      g.fillRect(x1, ty - 13 * scale, g.measureText(label).width + 6 * scale, 16 * scale);
      g.fillStyle = g.strokeStyle;
      g.fillText(label, x1 + 3 * scale, ty);
    }
    mask = { canvas: overlay };
  }

  async function loadDeliveries() {
    clearTimeout(poll);
    try {
      const resp = await api.deliveries(id, ctl.signal);
      renderDeliveries(resp.deliveries || []);
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(deliveriesBox).append(h('p', { class: 'error' }, 'Deliveries could not be listed: ' + err.message));
    }
  }

  function renderDeliveries(list) {
    clear(deliveriesBox);
    if (!list.length) {
      deliveriesBox.append(h('p', { class: 'muted' }, job && job.callback_url
        ? 'No webhook sent yet: it goes out when the job ends.'
        : 'No webhooks: the job was created without a webhook URL.'));
      return;
    }
    for (const d of list) {
      const state = shortStatus(d.state);
      deliveriesBox.append(h('div', { class: 'delivery', dataset: { state } },
        h('div', { class: 'toolbar' }, statusBadge(d.state),
          h('span', { class: 'mono small' }, d.message_id), h('span', {}, d.file_status), h('span', { class: 'mono small' }, d.url),
          h('span', { class: 'muted small' }, `${d.attempts || 0} attempt(s)` +
            (state === 'PENDING' && d.next_attempt_time ? ', next ' + fmtTime(d.next_attempt_time) : ''))),
        (d.attempt_log || []).length ? h('table', { class: 'attempts' },
          h('thead', {}, h('tr', {}, ['Time', 'HTTP status', 'Latency', 'Error'].map((c) => h('th', {}, c)))),
          h('tbody', {}, d.attempt_log.map((a) => h('tr', {},
            h('td', {}, fmtTime(a.time)), h('td', { class: 'num' }, a.status_code || '—'),
            h('td', { class: 'num' }, (a.latency_ms || 0) + ' ms'), h('td', {}, a.error || ''))))) : null));
    }
    // A pending delivery changes without a job event: look again while one is under way.
    if (list.some((d) => shortStatus(d.state) === 'PENDING')) poll = setTimeout(loadDeliveries, DELIVERY_POLL_MS);
  }

  async function onCancel() {
    cancel.disabled = true;
    try {
      show(await api.cancelJob(id));
      ctx.toast('Job cancelled.');
    } catch (err) {
      ctx.toast('Cancel failed: ' + err.message, 'error');
      if (job) cancel.disabled = FINAL.has(shortStatus(job.status));
    }
  }

  async function onRedeliver() {
    redeliver.disabled = true;
    try {
      await api.redeliver(id);
      ctx.toast('The webhook is being sent again.');
      await loadDeliveries();
    } catch (err) {
      ctx.toast('Redeliver failed: ' + err.message, 'error');
    } finally {
      redeliver.disabled = !job || !FINAL.has(shortStatus(job.status)) || !job.callback_url;
    }
  }

  async function load() {
    try {
      show(await api.getJob(id, ctl.signal));
      loadDeliveries();
    } catch (err) {
      if (err.name === 'AbortError') return;
      clear(main).append(h('p', {}, h('a', { href: '#/' }, '← All jobs')),
        h('p', { class: 'error', id: 'job-error' }, err.status === 404 ? 'There is no job ' + id + '.' : err.message));
    }
  }

  load();
  return {
    events(list) {
      for (const ev of list) {
        if (!ev.job || ev.job.id !== id) continue;
        const before = job && shortStatus(job.status);
        show(ev.job);
        if (before && !FINAL.has(before) && FINAL.has(shortStatus(ev.job.status))) loadDeliveries();
      }
    },
    reset: load,
    dispose() {
      ctl.abort();
      clearTimeout(poll);
      for (const u of urls) URL.revokeObjectURL(u);
    },
  };
}
