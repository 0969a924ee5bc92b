// What calls the agent's attention: the chime, the count in the title bar, and
// the notice at the bottom left (news about a conversation that is not open).
//
// Owns the sound (on or off, and the Web Audio context, which the browser lets
// play only after the first click or key press) and the notice shown now. Emits
// on the bus: 'open-request' (id) when the notice's "Open conversation" is pressed.

const kToastMs = 12_000;

export function createNotices({ bus, session }) {
  const $ = (id) => document.getElementById(id);
  const ui = {
    sound: $('sound'),
    toast: $('toast'),
    text: $('toast-text'),
    open: $('toast-open'),
    close: $('toast-close'),
  };
  let soundOn = true;
  let audio = null;
  let toastTimer = null;
  let toastConversation = null;

  function unlockAudio() {
    try {
      if (!audio) {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        if (Ctx) audio = new Ctx();
      }
      if (audio && audio.state === 'suspended') audio.resume();
    } catch {
      audio = null;
    }
  }
  document.addEventListener('pointerdown', unlockAudio, { passive: true });
  document.addEventListener('keydown', unlockAudio, { passive: true });

  // Two short rising tones, made on the spot: no sound file to fetch.
  function chime() {
    if (!soundOn || !audio || audio.state !== 'running') return;
    const t = audio.currentTime;
    for (const [i, freq] of [[0, 660], [1, 880]]) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = 'sine';
      osc.frequency.value = freq;
      const start = t + i * 0.14;
      gain.gain.setValueAtTime(0.0001, start);
      gain.gain.exponentialRampToValueAtTime(0.18, start + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.22);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(start + 0.25);
    }
  }

  ui.sound.addEventListener('click', () => {
    soundOn = !soundOn;
    ui.sound.setAttribute('aria-pressed', String(soundOn));
    ui.sound.textContent = soundOn ? 'Sound on' : 'Sound off';
    if (soundOn) chime();
  });

  // "(2) Baton console · Acme Bank": `n` conversations with something unread.
  function title(n) {
    const org = session.organization();
    const base = org ? `Baton console · ${org}` : 'Baton console';
    document.title = n > 0 ? `(${n}) ${base}` : base;
  }

  // `conversation`: the one the notice is about, offered to open (or null).
  function show(text, conversation) {
    ui.text.textContent = text;
    toastConversation = conversation;
    ui.open.hidden = !conversation;
    ui.close.hidden = false;
    ui.toast.classList.remove('is-empty');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(hide, kToastMs);
  }

  function hide() {
    clearTimeout(toastTimer);
    ui.text.textContent = '';
    ui.open.hidden = true;
    ui.close.hidden = true;
    ui.toast.classList.add('is-empty');
    toastConversation = null;
  }

  ui.close.addEventListener('click', hide);
  ui.open.addEventListener('click', () => {
    const id = toastConversation;
    hide();
    if (id) bus.emit('open-request', id);
  });

  return {
    chime,
    title,
    show,
    hide,
    // The notice is about conversation `id` (which was just opened): it goes.
    seen(id) {
      if (toastConversation === id) hide();
    },
  };
}
