// ops-console's progressive enhancement, served as a file so that the Content-Security-Policy can
// forbid inline script. Every page works without it; with it:
// - a page whose <main> has data-live="<url>" refreshes its numbers every data-live-ms: the JSON
//   answer's `fields` maps a name to the text of each element with data-field="<name>" (a
//   <progress> or <meter> gets it as its value, and data-max-field names its max), `states` sets
//   data-state where data-state-field names it, and `final: true` stops the refresh;
// - a checkbox with data-select-all="<name>" selects or clears every checkbox of that name.
(function () {
  'use strict';

  function say(text) {
    var el = document.getElementById('live-status');
    if (!el) {
      el = document.createElement('p');
      el.id = 'live-status';
      el.className = 'live-status';
      el.setAttribute('role', 'status');
      var main = document.getElementById('main');
      if (main) main.insertBefore(el, main.children[1] || null);
    }
    el.textContent = text;
  }

  function apply(body) {
    var fields = body.fields || {};
    var states = body.states || {};
    var nodes = document.querySelectorAll('[data-field]');
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var key = el.getAttribute('data-field');
      if (!Object.prototype.hasOwnProperty.call(fields, key)) continue;
      var value = fields[key];
      if (el.tagName === 'PROGRESS' || el.tagName === 'METER') {
        var maxKey = el.getAttribute('data-max-field');
        if (maxKey && Object.prototype.hasOwnProperty.call(fields, maxKey)) {
          el.max = Number(fields[maxKey]);
        }
        el.value = Number(value);
      } else if (el.textContent !== value) {
        el.textContent = value;
      }
    }
    var stateNodes = document.querySelectorAll('[data-state-field]');
    for (var j = 0; j < stateNodes.length; j++) {
      var s = stateNodes[j].getAttribute('data-state-field');
      if (Object.prototype.hasOwnProperty.call(states, s)) {
        stateNodes[j].setAttribute('data-state', states[s]);
      }
    }
    if (body.final) {
      var hide = document.querySelectorAll('[data-hide-when-final]');
      for (var k = 0; k < hide.length; k++) hide[k].hidden = true;
    }
  }

  function live(main) {
    var url = main.getAttribute('data-live');
    var ms = Number(main.getAttribute('data-live-ms')) || 5000;
    var count = 0;
    function tick() {
      fetch(url, {
        headers: { accept: 'application/json' },
        credentials: 'same-origin',
        cache: 'no-store',
      })
        .then(function (res) {
          if (res.status === 401) {
            say('Your session ended: reload the page to sign in again.');
            return null;
          }
          if (!res.ok) throw new Error('HTTP ' + res.status);
          return res.json();
        })
        .then(function (body) {
          if (!body) return;
          apply(body);
          count++;
          main.setAttribute('data-live-refreshed', String(count));
          var status = document.getElementById('live-status');
          if (status && status.getAttribute('data-error') === 'true') {
            status.textContent = '';
            status.removeAttribute('data-error');
          }
          if (body.final) {
            main.setAttribute('data-live-final', 'true');
            return;
          }
          setTimeout(tick, ms);
        })
        .catch(function (err) {
          say('Could not refresh (' + err.message + '); trying again.');
          var status = document.getElementById('live-status');
          if (status) status.setAttribute('data-error', 'true');
          setTimeout(tick, ms);
        });
    }
    setTimeout(tick, Math.min(ms, 1000));
  }

  function selectAll(box) {
    var name = box.getAttribute('data-select-all');
    box.addEventListener('change', function () {
      var form = box.form || document;
      var boxes = form.querySelectorAll('input[type="checkbox"][name="' + name + '"]');
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = box.checked;
    });
  }

  function start() {
    var main = document.querySelector('main[data-live]');
    if (main) live(main);
    var boxes = document.querySelectorAll('input[data-select-all]');
    for (var i = 0; i < boxes.length; i++) selectAll(boxes[i]);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
