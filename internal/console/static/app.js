// The console's entry point: the API key (kept in this tab's sessionStorage only), one watch
// stream shared by every view, and a hash router (#/ the jobs, #/jobs/ID one job).
import { Api } from './api.js';
import { Watcher } from './watch.js';
import { h, clear, toast } from './ui.js';
import { jobsView } from './jobs.js';
import { jobView } from './job.js';

const KEY = 'anonjob.apiKey';
const main = document.getElementById('main');

const app = {
  api: null,
  watcher: null,
  view: null, // the shown view: { events(list), reset(), dispose() }
  prefs: { statuses: [], pageSize: 20 },
};

function signInView(message) {
  const input = h('input', {
    type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true,
    placeholder: 'aj_…', spellcheck: 'false',
  });
  const err = h('p', { class: 'error', id: 'signin-error' }, message || '');
  const button = h('button', { type: 'submit', id: 'signin-submit' }, 'Open console');
  const form = h('form', {
    class: 'card signin', id: 'signin',
    on: {
      submit: async (ev) => {
        ev.preventDefault();
        const key = input.value.trim();
        button.disabled = true;
        err.textContent = '';
        try {
          await new Api(key).listJobs({ pageSize: 1 });
          sessionStorage.setItem(KEY, key);
          begin(key);
        } catch (e) {
          err.textContent = e.unauthorized ? 'The server did not accept this key.' : e.message;
        } finally {
          button.disabled = false;
        }
      },
    },
  },
  h('h1', {}, 'Jobs console'),
  h('p', { class: 'muted' }, 'Enter an API key. It stays in this browser tab only and is sent in the ',
    h('code', {}, 'Authorization'), ' header, never in a URL.'),
  h('label', { for: 'api-key' }, 'API key'), input, button, err);
  showChrome(false);
  clear(main).append(form);
  input.focus();
}

function showChrome(on, key) {
  document.getElementById('nav').hidden = !on;
  document.getElementById('signout').hidden = !on;
  document.getElementById('live').hidden = !on;
  const who = document.getElementById('who');
  who.hidden = !on;
  // The key's public id, so one can tell keys apart; never the secret.
  who.textContent = on ? 'key ' + (key.split('_')[1] || '').slice(0, 8) + '…' : '';
}

function setLive(state, detail) {
  const el = document.getElementById('live');
  el.className = 'live ' + state;
  el.dataset.state = state;
  el.textContent = { live: 'live', reconnecting: 'reconnecting…', offline: 'offline' }[state] || state;
  el.title = detail || '';
}

function begin(key) {
  stop();
  app.api = new Api(key, () => signOut('The server no longer accepts this key.'));
  app.watcher = new Watcher(app.api, {
    events: (list) => app.view && app.view.events(list),
    reset: () => app.view && app.view.reset(),
    state: setLive,
  });
  setLive('reconnecting', 'connecting');
  app.watcher.start();
  showChrome(true, key);
  route();
}

function stop() {
  if (app.watcher) app.watcher.stop();
  if (app.view) app.view.dispose();
  app.watcher = null;
  app.view = null;
}

function signOut(message) {
  stop();
  app.api = null;
  sessionStorage.removeItem(KEY);
  signInView(typeof message === 'string' ? message : '');
}

function route() {
  if (!app.api) return;
  if (app.view) app.view.dispose();
  const hash = window.location.hash.replace(/^#/, '') || '/';
  const m = hash.match(/^\/jobs\/([^/?#]+)$/);
  const ctx = { api: app.api, main: clear(main), prefs: app.prefs, toast };
  app.view = m ? jobView(ctx, decodeURIComponent(m[1])) : jobsView(ctx);
  window.scrollTo(0, 0);
}

window.addEventListener('hashchange', route);
document.getElementById('signout').addEventListener('click', () => signOut());
const saved = sessionStorage.getItem(KEY);
if (saved) begin(saved);
else signInView();
