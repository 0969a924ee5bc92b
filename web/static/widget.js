/* Baton chat widget loader.
 *
 *   <script src="https://chat.example.com/widget.js" data-site="example-web" async></script>
 *
 * Adds a "Chat with us" launcher to the page that opens the Baton chat page in an
 * iframe and closes it again. Everything lives in one shadow root, so the host
 * page's styles do not reach in and ours do not leak out; no globals are defined
 * besides the custom host element. The chat itself (and the visitor's token)
 * stays inside the iframe, on the Baton server's origin.
 *
 * Optional attributes: data-label (launcher text), data-position ("left").
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || !script.src) return;
  var origin;
  try {
    origin = new URL(script.src, location.href).origin;
  } catch (e) {
    return;
  }
  var site = script.getAttribute('data-site') || '';
  var label = script.getAttribute('data-label') || 'Chat with us';
  var left = script.getAttribute('data-position') === 'left';
  var openKey = 'baton-widget-open:' + site;

  // Styles via a constructed stylesheet: no <style> element and no style=""
  // attribute, so a strict host Content-Security-Policy allows them.
  var css =
    ':host{all:initial;display:block;position:fixed;z-index:2147483000;bottom:20px;' + (left ? 'left' : 'right') + ':20px;' +
    'font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;color:#1b2330}' +
    '*{box-sizing:border-box}' +
    '.launcher{all:unset;box-sizing:border-box;display:inline-flex;align-items:center;gap:8px;cursor:pointer;' +
    'height:52px;padding:0 20px 0 16px;border-radius:26px;background:#2456d6;color:#fff;font-weight:600;font-size:15px;line-height:1;' +
    'font-family:inherit;box-shadow:0 6px 20px rgba(20,40,90,.28);position:relative}' +
    '.launcher:hover{background:#1a3f9e}' +
    '.launcher:focus-visible{outline:3px solid #f0a500;outline-offset:3px}' +
    '.launcher svg{width:22px;height:22px;flex:none}' +
    '.launcher .close{display:none}' +
    '.launcher[aria-expanded="true"] .open{display:none}' +
    '.launcher[aria-expanded="true"] .close{display:block}' +
    '.badge{position:absolute;top:-3px;' + (left ? 'left' : 'right') + ':-3px;width:14px;height:14px;border-radius:50%;' +
    'background:#e5484d;border:2px solid #fff;display:none}' +
    '.badge.on{display:block}' +
    '.panel{position:absolute;bottom:66px;' + (left ? 'left' : 'right') + ':0;width:380px;height:600px;' +
    'max-height:calc(100vh - 110px);max-width:calc(100vw - 40px);border-radius:16px;overflow:hidden;background:#fff;' +
    'box-shadow:0 16px 48px rgba(20,30,60,.3),0 0 0 1px rgba(20,30,60,.08);display:none}' +
    '.panel.open{display:block}' +
    '.panel iframe{border:0;width:100%;height:100%;display:block;background:#fff}' +
    '@media (max-width:480px){' +
    '.panel.open{position:fixed;inset:0;width:100vw;height:100%;max-width:none;max-height:none;border-radius:0;bottom:0}' +
    ':host(.is-open) .launcher{display:none}}';

  var tag = 'baton-chat-widget';
  if (document.querySelector(tag)) return; // loaded twice
  var host = document.createElement(tag);
  var root = host.attachShadow({ mode: 'open' });
  var applied = false;
  try {
    if ('adoptedStyleSheets' in Document.prototype && typeof CSSStyleSheet === 'function') {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
      applied = true;
    }
  } catch (e) {
    applied = false;
  }
  if (!applied) {
    var style = document.createElement('style');
    style.textContent = css;
    root.appendChild(style);
  }

  var svgNS = 'http://www.w3.org/2000/svg';
  function icon(cls, d) {
    var svg = document.createElementNS(svgNS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    svg.setAttribute('class', cls);
    var path = document.createElementNS(svgNS, 'path');
    path.setAttribute('d', d);
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', 'currentColor');
    path.setAttribute('stroke-width', '2');
    path.setAttribute('stroke-linecap', 'round');
    path.setAttribute('stroke-linejoin', 'round');
    svg.appendChild(path);
    return svg;
  }

  var panelId = 'baton-panel';
  var panel = document.createElement('div');
  panel.className = 'panel';
  panel.id = panelId;
  panel.setAttribute('role', 'region');
  panel.setAttribute('aria-label', 'Live chat');

  var button = document.createElement('button');
  button.type = 'button';
  button.className = 'launcher';
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-controls', panelId);
  button.appendChild(icon('open', 'M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z'));
  button.appendChild(icon('close', 'M6 6l12 12M18 6L6 18'));
  var text = document.createElement('span');
  text.textContent = label;
  button.appendChild(text);
  var badge = document.createElement('span');
  badge.className = 'badge';
  badge.setAttribute('aria-hidden', 'true');
  button.appendChild(badge);

  var frame = null;
  var isOpen = false;

  function chatUrl() {
    // The host page's address travels in the fragment: the browser never sends it to
    // a server, and the chat page removes it from its own address once read.
    var page = location.origin + location.pathname;
    return origin + '/chat?site=' + encodeURIComponent(site) + '#page=' + encodeURIComponent(page);
  }

  function remember(open) {
    try {
      if (open) sessionStorage.setItem(openKey, '1');
      else sessionStorage.removeItem(openKey);
    } catch (e) {
      // storage may be off; the widget then just starts closed
    }
  }

  function setOpen(open, focusChat) {
    isOpen = open;
    if (open && !frame) {
      frame = document.createElement('iframe');
      frame.title = 'Live chat';
      frame.src = chatUrl();
      frame.setAttribute('allow', 'clipboard-write');
      frame.setAttribute('referrerpolicy', 'strict-origin-when-cross-origin');
      panel.appendChild(frame);
    }
    panel.className = open ? 'panel open' : 'panel';
    if (open) host.classList.add('is-open');
    else host.classList.remove('is-open');
    button.setAttribute('aria-expanded', open ? 'true' : 'false');
    if (open) badge.className = 'badge';
    if (open && focusChat && frame) frame.focus();
    remember(open);
  }

  button.addEventListener('click', function () {
    setOpen(!isOpen, true);
  });

  // Only our own frame may talk to us. Its page is the Baton chat page, of this
  // server or, after a transfer to a partner organization, of the partner's
  // server (the move happens inside the frame), so the sender's origin is not
  // checked; the messages carry nothing private and only minimize the panel or
  // show the badge.
  window.addEventListener('message', function (ev) {
    if (!frame || ev.source !== frame.contentWindow) return;
    var data = ev.data || {};
    if (data.baton === 'minimize') {
      setOpen(false);
      button.focus();
    } else if (data.baton === 'message' && !isOpen) {
      badge.className = 'badge on';
    }
  });

  root.appendChild(panel);
  root.appendChild(button);

  function mount() {
    document.body.appendChild(host);
    var wasOpen = false;
    try {
      wasOpen = sessionStorage.getItem(openKey) === '1';
    } catch (e) {
      wasOpen = false;
    }
    if (wasOpen) setOpen(true, false);
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);
})();
