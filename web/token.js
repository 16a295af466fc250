// The write token dialog. Its form is built when it opens and removed when it closes,
// so the "Bearer token" field exists only while the dialog is shown.
import { getToken, serverInfo, setToken } from './api.js';
import { byId, h } from './dom.js';

const dialog = byId('token-dialog');
const button = byId('token-button');

/** Opens the dialog; focus goes back to returnTo (or whatever had it) when it closes. */
export function openTokenDialog(reason, returnTo) {
  if (dialog.open) return;
  const active = document.activeElement;
  const opener = returnTo || (active instanceof HTMLElement && active !== document.body ? active : button);
  const input = h('input', {
    id: 'token-input', type: 'password', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': 'token-hint',
  });
  input.value = getToken();
  const form = h('form', { method: 'dialog', class: 'dialog-form' },
    h('h2', { id: 'token-title' }, 'Write token'),
    reason ? h('p', { class: 'notice notice-warn' }, reason) : null,
    h('p', { class: 'hint', id: 'token-hint' },
      'Sent as ', h('code', null, 'Authorization: Bearer …'),
      ' when pushing events. Kept for this browser tab only.'),
    h('div', { class: 'field' },
      h('label', { for: 'token-input' }, 'Bearer token'),
      input),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'button button-primary' }, 'Save'),
      h('button', {
        type: 'button', class: 'button',
        onclick: () => {
          setToken('');
          dialog.close();
        },
      }, 'Forget'),
      h('span', { class: 'spacer' }),
      h('button', { type: 'button', class: 'button button-quiet', onclick: () => dialog.close() },
        'Cancel')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setToken(input.value.trim());
    dialog.close();
  });
  dialog.replaceChildren(form);
  dialog.addEventListener('close', () => {
    dialog.replaceChildren();
    (opener.isConnected ? opener : button).focus();
  }, { once: true });
  dialog.showModal();
  input.focus();
  input.select();
}

async function refreshButton() {
  const info = await serverInfo();
  const has = Boolean(getToken());
  button.classList.toggle('has-token', has);
  button.classList.toggle('needs-token', info.tokenRequired === true && !has);
  button.title = has ? 'A write token is set for this tab'
    : info.tokenRequired ? 'This server needs a write token to push events' : 'No write token set';
}

button.addEventListener('click', () => openTokenDialog());
document.addEventListener('pemx:token', refreshButton);
refreshButton();
