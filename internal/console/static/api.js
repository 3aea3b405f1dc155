// The REST API, called with the key in the Authorization header. The key is never put in a
// URL: images come back as blobs and are shown through blob: URLs.

export class ApiError extends Error {
  constructor(status, body) {
    const message = (body && body.message) || `HTTP ${status}`;
    super(message);
    this.status = status;
    this.code = body && body.code;
    this.reason = '';
    for (const d of (body && body.details) || []) {
      if (String(d['@type'] || '').endsWith('ErrorInfo')) this.reason = d.reason || '';
    }
  }

  get unauthorized() {
    return this.status === 401 || this.code === 16;
  }
}

export class Api {
  // onUnauthorized is called when the server refuses the key, e.g. after it was revoked.
  constructor(key, onUnauthorized) {
    this.key = key;
    this.onUnauthorized = onUnauthorized || (() => {});
  }

  headers(extra = {}) {
    return { Authorization: 'Bearer ' + this.key, ...extra };
  }

  url(path, query) {
    const u = new URL(path, window.location.origin);
    for (const [k, v] of Object.entries(query || {})) {
      if (v !== undefined && v !== null && v !== '' && v !== false) u.searchParams.set(k, String(v));
    }
    return u.pathname + u.search;
  }

  async fetch(method, path, { query, body, contentType, signal } = {}) {
    const headers = this.headers(contentType ? { 'Content-Type': contentType } : {});
    let resp;
    try {
      resp = await fetch(this.url(path, query), { method, headers, body, signal, cache: 'no-store' });
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      throw new ApiError(0, { message: 'the server cannot be reached (' + err.message + ')' });
    }
    if (!resp.ok) {
      let parsed = null;
      try { parsed = await resp.json(); } catch { /* not JSON: keep the status */ }
      const err = new ApiError(resp.status, parsed);
      if (err.unauthorized) this.onUnauthorized(err);
      throw err;
    }
    return resp;
  }

  async json(method, path, opts = {}) {
    if (method === 'POST' && opts.body === undefined) {
      opts = { ...opts, body: '{}', contentType: 'application/json' };
    }
    const resp = await this.fetch(method, path, opts);
    return resp.json();
  }

  listJobs({ pageSize, pageToken, statuses, signal }) {
    return this.json('GET', '/v1/jobs', {
      query: { page_size: pageSize, page_token: pageToken, status: (statuses || []).join(',') }, signal,
    });
  }

  // CreateJob, GetJob and CancelJob answer with the job itself (response_body: "job").
  getJob(id, signal) {
    return this.json('GET', '/v1/jobs/' + encodeURIComponent(id), { signal });
  }

  cancelJob(id) {
    return this.json('POST', '/v1/jobs/' + encodeURIComponent(id) + ':cancel');
  }

  deliveries(id, signal) {
    return this.json('GET', '/v1/jobs/' + encodeURIComponent(id) + '/deliveries', { signal });
  }

  redeliver(id) {
    return this.json('POST', '/v1/jobs/' + encodeURIComponent(id) + '/deliveries:redeliver');
  }

  // createJob uploads one image; options are query parameters, the body is the image itself.
  createJob(file, contentType, options) {
    return this.json('POST', '/v1/jobs', { query: options, body: file, contentType });
  }

  // file fetches one result file of a job as a Blob.
  async file(id, kind, signal) {
    const resp = await this.fetch('GET', '/v1/jobs/' + encodeURIComponent(id) + '/files/' + kind, { signal });
    return resp.blob();
  }
}

// sniffImageType returns image/jpeg or image/png from a file's first bytes (the server checks
// that the declared type matches them), or '' for anything else.
export async function sniffImageType(file) {
  const b = new Uint8Array(await file.slice(0, 8).arrayBuffer());
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image/jpeg';
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (b.length === 8 && png.every((v, i) => b[i] === v)) return 'image/png';
  return '';
}
