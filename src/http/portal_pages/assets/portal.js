// frontdesk customer portal: forms posted to the portal API as JSON with the CSRF header,
// readable errors, the checkout redirect, and chat over the API's WebSocket.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function formBody(form) {
    var out = {};
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.disabled) continue;
      if (el.type === "radio" && !el.checked) continue;
      var type = el.getAttribute("data-type");
      var v = el.value;
      if (el.type === "checkbox") v = el.checked;
      else if (type === "number") v = Number(el.value);
      else if (type === "bool") v = el.value === "true";
      else if (type === "contact") {
        v = el.value.trim();
        out[v.indexOf("@") >= 0 ? "email" : "phone"] = v;
        continue;
      }
      out[el.name] = v;
    }
    return out;
  }

  function show(form, cls, message) {
    var el = form.querySelector("." + cls);
    if (!el) return;
    el.textContent = message;
    el.hidden = false;
  }

  function hide(form, cls) {
    var el = form.querySelector("." + cls);
    if (el) el.hidden = true;
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var api = form.getAttribute("data-api");
    if (!api) return;
    ev.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    hide(form, "form-error");
    fetch(api, {
      method: form.getAttribute("data-method") || "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(formBody(form))
    })
      .then(function (res) {
        return res.json().then(function (body) {
          return { ok: res.ok, body: body };
        }, function () {
          return { ok: res.ok, body: {} };
        });
      })
      .then(function (r) {
        if (button) button.disabled = false;
        if (!r.ok) {
          var e = r.body && r.body.error;
          show(form, "form-error", e && e.message ? e.message : "That did not work; please try again.");
          return;
        }
        var then = form.getAttribute("data-then") || "reload";
        if (then === "follow" && r.body.url) window.location.assign(r.body.url);
        else if (then === "message") {
          show(form, "notice", r.body.message || "Done.");
          form.reset();
        } else if (then === "reload") window.location.reload();
        else window.location.assign(then);
      })
      .catch(function () {
        if (button) button.disabled = false;
        show(form, "form-error", "No connection; please try again.");
      });
  });

  // Chat: one WebSocket to the agent; staff replies arrive on it too.
  var chat = document.getElementById("chat-form");
  if (!chat) return;
  var log = document.getElementById("chat-log");
  var socket = null;
  var pending = [];

  function add(author, text) {
    var li = document.createElement("li");
    li.className = "msg " + author;
    li.textContent = text;
    log.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  function connect() {
    var proto = window.location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(proto + "//" + window.location.host + "/api/v1/portal/chat");
    socket.onopen = function () {
      document.body.setAttribute("data-chat", "open");
      while (pending.length) socket.send(pending.shift());
    };
    socket.onmessage = function (ev) {
      var f;
      try {
        f = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (f.error) show(chat, "form-error", f.error.message);
      else if (f.type === "message") add("staff", f.text);
      else if (f.reply) add("agent", f.reply);
    };
    socket.onclose = function () {
      document.body.setAttribute("data-chat", "closed");
      socket = null;
      window.setTimeout(connect, 3000);
    };
  }
  connect();

  chat.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var box = chat.querySelector("textarea");
    var text = box.value.trim();
    if (!text) return;
    hide(chat, "form-error");
    add("customer", text);
    var frame = JSON.stringify({
      text: text,
      client_message_id: String(Date.now()) + Math.floor(Math.random() * 1e6)
    });
    if (socket && socket.readyState === 1) socket.send(frame);
    else pending.push(frame);
    box.value = "";
  });
})();
