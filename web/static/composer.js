// The message box of the chat page and of the console: Enter sends (Shift+Enter
// starts a new line), the box grows with its text, a message past the server's
// size limit is refused here with a clear message, and "typing" goes out while the
// person types (on with the first character, off after 3 s without a key, after
// sending, or when the conversation changes).

import { utf8Bytes, kMaxMessageBytes } from '/assets/util.js';

const kTypingIdleMs = 3_000;
const kTooLong = 'That message is too long. Please split it into shorter ones.';

// Enter submits `form`; with Shift, Alt, Ctrl or Meta, or while an input method
// composes, it is a new line as usual.
export function enterToSend(textarea, form) {
  textarea.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.altKey && !ev.ctrlKey && !ev.metaKey && !ev.isComposing) {
      ev.preventDefault();
      form.requestSubmit();
    }
  });
}

export class Composer {
  #typingFor = null; // the conversation "typing: on" was sent for
  #idle = null;

  // onSend(text): the trimmed text, within the limit; returns true when it was
  // taken (the box is then emptied and focused), anything else to leave it.
  // onError(text): shows a problem ('' clears it). maxHeight: grow up to it (px),
  // 0 to leave the height to CSS. typing: {target() -> conversation id or null
  // (null: typing is not to be sent now), send(conversation, on) -> bool}.
  // tooLong: what to say of a text past the limit.
  constructor({ form, textarea, onSend, onError = () => {}, typing = null, maxHeight = 0, tooLong = kTooLong }) {
    this.form = form;
    this.textarea = textarea;
    this.onSend = onSend;
    this.onError = onError;
    this.typing = typing;
    this.maxHeight = maxHeight;
    this.tooLong = tooLong;
    enterToSend(textarea, form);
    textarea.addEventListener('input', () => this.#onInput());
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.submit();
    });
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.grow();
  }

  submit() {
    const text = this.textarea.value.trim();
    this.onError('');
    if (!text) return;
    if (utf8Bytes(text) > kMaxMessageBytes) {
      this.onError(this.tooLong);
      return;
    }
    if (this.onSend(text) === true) {
      this.value = '';
      this.stopTyping();
      this.focus();
    }
  }

  focus() {
    this.textarea.focus();
  }

  grow() {
    if (!this.maxHeight) return;
    this.textarea.style.height = 'auto';
    this.textarea.style.height = `${Math.min(this.textarea.scrollHeight, this.maxHeight)}px`;
  }

  stopTyping() {
    clearTimeout(this.#idle);
    if (this.#typingFor && this.typing) this.typing.send(this.#typingFor, false);
    this.#typingFor = null;
  }

  #onInput() {
    this.grow();
    if (!this.typing) return;
    const target = this.typing.target();
    if (!target) return;
    if (this.#typingFor !== target && this.textarea.value.trim()) {
      this.stopTyping();
      if (this.typing.send(target, true)) this.#typingFor = target;
    }
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.stopTyping(), kTypingIdleMs);
  }
}
