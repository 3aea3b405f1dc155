// Watcher follows GET /v1/jobs:watch, newline-delimited JSON read from a fetch body (an
// EventSource cannot send the Authorization header). It remembers the revision of the last
// message and resumes from it after any disconnect, so no event is missed or seen twice.

const STALL_MS = 45000; // no message (not even a heartbeat) for this long: the link is dead

export class Watcher {
  // handlers: events(list) for each batch, reset() when history was compacted and the caller
  // must reload what it shows, state(name, detail) for the connection's state.
  constructor(api, handlers) {
    this.api = api;
    this.handlers = handlers;
    this.revision = 0;
    this.stopped = false;
    this.controller = null;
    this.retry = 0;
  }

  start() {
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.once();
        // The server ended the stream cleanly (e.g. at shutdown): resume.
        this.handlers.state('reconnecting', 'stream ended');
      } catch (err) {
        if (this.stopped) return;
        if (err.unauthorized) {
          this.handlers.state('offline', err.message);
          return;
        }
        if (err.reason === 'REVISION_COMPACTED' || err.status === 410) {
          // Too far behind to replay: start afresh and let the page reload its data.
          this.revision = 0;
          this.handlers.reset();
          continue;
        }
        this.handlers.state('reconnecting', err.message || String(err));
      }
      if (this.stopped) return;
      const wait = Math.min(15000, 500 * 2 ** Math.min(this.retry, 5));
      this.retry++;
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  async once() {
    const controller = new AbortController();
    this.controller = controller;
    let stall = setTimeout(() => controller.abort(), STALL_MS);
    try {
      const resp = await this.api.fetch('GET', '/v1/jobs:watch', {
        query: { since_revision: this.revision }, signal: controller.signal,
      });
      const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(stall);
        stall = setTimeout(() => controller.abort(), STALL_MS);
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (line) this.message(JSON.parse(line));
        }
      }
    } catch (err) {
      if (err.name === 'AbortError' && !this.stopped) {
        const e = new Error('no heartbeat from the server');
        throw e;
      }
      throw err;
    } finally {
      clearTimeout(stall);
    }
  }

  message(msg) {
    if (msg.error) {
      const err = new Error(msg.error.message || 'watch failed');
      err.code = msg.error.code;
      for (const d of msg.error.details || []) {
        if (String(d['@type'] || '').endsWith('ErrorInfo')) err.reason = d.reason;
      }
      err.unauthorized = err.code === 16;
      throw err;
    }
    const res = msg.result || {};
    const events = res.events || [];
    if (events.length) this.handlers.events(events);
    // Only after the events are handled: a reconnect then resumes right after them.
    if (res.revision !== undefined) this.revision = Number(res.revision);
    this.retry = 0;
    this.handlers.state('live', 'revision ' + this.revision);
  }
}
