// The upload form: one job per chosen image, with the same options as POST /v1/jobs.
import { sniffImageType } from './api.js';
import { h } from './ui.js';

const METHODS = ['blur', 'pixelate', 'blacken', 'detect'];
const PARALLEL = 3;

// uploadForm returns the form; created(job) is called for every job the server accepted.
export function uploadForm(ctx, created) {
  const files = h('input', { type: 'file', id: 'upload-files', name: 'files', multiple: true,
    accept: 'image/jpeg,image/png', required: true });
  const method = h('select', { id: 'upload-method', name: 'method' },
    METHODS.map((m) => h('option', { value: m }, m)));
  const box = (name, label, checked) => {
    const input = h('input', { type: 'checkbox', id: 'upload-' + name, name, defaultChecked: checked });
    return { input, label: h('label', { class: 'check' }, input, ' ' + label) };
  };
  const face = box('face', 'faces', true);
  const plate = box('license_plate', 'licence plates', true);
  const person = box('person', 'persons', false);
  const vehicle = box('vehicle', 'vehicles', false);
  const callback = h('input', { type: 'url', id: 'upload-callback', name: 'callback_url',
    placeholder: 'https://example.com/hooks/anonjob (optional)' });
  const submit = h('button', { type: 'submit', id: 'upload-submit' }, 'Upload');
  const status = h('p', { class: 'muted', id: 'upload-status' });
  const errors = h('ul', { class: 'error-list', id: 'upload-errors' });

  const form = h('form', { class: 'card upload', id: 'upload', on: { submit: onSubmit } },
    h('h2', {}, 'Upload images'),
    h('div', { class: 'row' },
      h('label', { for: 'upload-files' }, 'Images (JPEG or PNG)'), files),
    h('div', { class: 'row' },
      h('label', { for: 'upload-method' }, 'Method'), method,
      h('span', { class: 'checks' }, face.label, plate.label, person.label, vehicle.label)),
    h('div', { class: 'row' },
      h('label', { for: 'upload-callback' }, 'Webhook'), callback),
    h('div', { class: 'row' }, submit, status),
    errors);

  async function onSubmit(ev) {
    ev.preventDefault();
    const list = [...files.files];
    if (!list.length) return;
    submit.disabled = true;
    errors.replaceChildren();
    const options = {
      method: method.value, face: face.input.checked, license_plate: plate.input.checked,
      person: person.input.checked, vehicle: vehicle.input.checked, callback_url: callback.value.trim(),
    };
    let done = 0;
    let failed = 0;
    const show = () => { status.textContent = `Uploaded ${done} of ${list.length}` + (failed ? `, ${failed} refused` : ''); };
    show();
    const queue = list.slice();
    const worker = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        try {
          const type = await sniffImageType(f);
          if (!type) throw new Error('not a JPEG or PNG image');
          const job = await ctx.api.createJob(f, type, options);
          done++;
          created(job);
        } catch (err) {
          failed++;
          errors.append(h('li', {}, f.name + ': ' + err.message));
        }
        show();
      }
    };
    await Promise.all(Array.from({ length: Math.min(PARALLEL, list.length) }, worker));
    submit.disabled = false;
    if (!failed) form.reset();
  }
  return form;
}
