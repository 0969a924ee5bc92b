// The join page: takes the join code from the URL fragment (which no request
// carries), removes it from the address bar, and presents it to the server once.
const params = new URLSearchParams(location.hash.slice(1));
const code = params.get('code');
history.replaceState(null, '', '/join');
if (code) {
  document.getElementById('join-code').value = code;
  document.getElementById('join-form').submit();
} else {
  document.getElementById('join-status').textContent =
    'This link has no join code. Go back to the previous page to continue your conversation there.';
}
