// frontdesk console: form posts to the operator API with the CSRF header, readable errors,
// SLA countdowns, the SMS segment counter and live regions refreshed on server events.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function setPath(obj, parts, value) {
    var o = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof o[parts[i]] !== "object" || o[parts[i]] === null) o[parts[i]] = {};
      o = o[parts[i]];
    }
    o[parts[parts.length - 1]] = value;
  }

  function formBody(form) {
    var out = {};
    for (var i = 0; i < form.elements.length; i++) {
      var el = form.elements[i];
      if (!el.name || el.disabled) continue;
      var v;
      var type = el.getAttribute("data-type");
      if (el.type === "checkbox") v = el.checked;
      else if (type === "number") {
        if (el.value === "") continue;
        v = Number(el.value);
      } else if (type === "json") v = JSON.parse(el.value);
      else if (type === "nullable") v = el.value.trim() === "" ? null : el.value.trim();
      else v = el.value;
      setPath(out, el.name.split("."), v);
    }
    return out;
  }

  function showError(form, message) {
    var el = form.querySelector(".form-error");
    if (!el) {
      el = document.createElement("p");
      el.className = "form-error";
      el.setAttribute("role", "alert");
      form.appendChild(el);
    }
    el.textContent = message;
  }

  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var api = form.getAttribute("data-api");
    if (!api) return;
    ev.preventDefault();
    // A new attempt: the last one's error no longer stands.
    var stale = form.querySelector(".form-error");
    if (stale) stale.remove();
    var method = form.getAttribute("data-method") || "POST";
    var init = {
      method: method,
      credentials: "same-origin",
      headers: { "x-csrf-token": csrf }
    };
    try {
      if (method !== "DELETE") {
        init.headers["content-type"] = "application/json";
        init.body = JSON.stringify(formBody(form));
      }
    } catch (e) {
      showError(form, "A field could not be read: " + e.message);
      return;
    }
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    form.setAttribute("data-busy", "1");
    fetch(api, init).then(function (res) {
      if (res.ok) {
        form.setAttribute("data-done", "1");
        var then = form.getAttribute("data-then");
        if (then) window.location.assign(then);
        else window.location.reload();
        return;
      }
      return res.text().then(function (text) {
        var message = "Something went wrong (" + res.status + ").";
        try {
          var j = JSON.parse(text);
          if (j && j.error && j.error.message) message = j.error.message;
        } catch (e) { /* not JSON */ }
        if (res.status === 401 && api.indexOf("/session") < 0) {
          message = "Your session has ended. Please sign in again.";
        }
        showError(form, message);
      });
    }).catch(function () {
      showError(form, "The server could not be reached. Check the connection and try again.");
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
      form.removeAttribute("data-busy");
    });
  });

  // SLA countdowns against the server's clock.
  var serverNow = Number(document.body.getAttribute("data-now") || "0");
  var skew = serverNow ? serverNow * 1000 - Date.now() : 0;
  function tick() {
    var now = (Date.now() + skew) / 1000;
    document.querySelectorAll(".sla[data-due]").forEach(function (el) {
      var left = Math.round(Number(el.getAttribute("data-due")) - now);
      var a = Math.abs(left);
      var text = a >= 3600
        ? Math.floor(a / 3600) + "h " + String(Math.floor((a % 3600) / 60)).padStart(2, "0") + "m"
        : Math.floor(a / 60) + "m " + String(a % 60).padStart(2, "0") + "s";
      el.textContent = left < 0 ? "breached " + text + " ago" : text + " left";
      el.classList.toggle("red", left < 0);
      el.classList.toggle("amber", left >= 0 && left < 1800);
    });
  }
  if (serverNow) setInterval(tick, 1000);

  // SMS segments: GSM-7 fits 160 (153 per part), anything else UCS-2 70 (67 per part).
  var gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\\[~\]|€]*$/;
  function count(area) {
    var out = document.getElementById(area.getAttribute("data-sms-counter"));
    if (!out) return;
    var t = area.value;
    var n = Array.from(t).length;
    var isGsm = gsm.test(t);
    var one = isGsm ? 160 : 70, part = isGsm ? 153 : 67;
    var segments = n <= one ? 1 : Math.ceil(n / part);
    out.textContent = n + " characters · " + segments + " SMS segment" + (segments === 1 ? "" : "s") +
      (isGsm ? "" : " (Unicode)");
  }
  function markDirty(ev) {
    var form = ev.target && ev.target.form;
    if (form) form.setAttribute("data-dirty", "1");
  }
  document.addEventListener("input", function (ev) {
    markDirty(ev);
    if (ev.target.hasAttribute && ev.target.hasAttribute("data-sms-counter")) count(ev.target);
  });
  document.addEventListener("change", markDirty);

  // Live regions: on any event, re-read this page and swap each [data-live] element by id.
  var regions = document.querySelectorAll("[data-live][id]");
  var status = document.getElementById("live-status");
  var pending = false;
  function refresh() {
    if (pending) return;
    pending = true;
    fetch(window.location.href, { credentials: "same-origin" }).then(function (res) {
      if (!res.ok) return null;
      return res.text();
    }).then(function (html) {
      pending = false;
      if (!html) return;
      var doc = new DOMParser().parseFromString(html, "text/html");
      regions.forEach(function (el) {
        var fresh = doc.getElementById(el.id);
        // A region holding a form the user is filling in is left alone until it is sent.
        var active = document.activeElement;
        var busy = el.querySelector("form[data-dirty]") || (active && active.form && el.contains(active));
        if (fresh && !busy) el.innerHTML = fresh.innerHTML;
      });
      var n = doc.body.getAttribute("data-now");
      if (n) skew = Number(n) * 1000 - Date.now();
      tick();
      document.body.setAttribute("data-refreshed", String(Number(document.body.getAttribute("data-refreshed") || "0") + 1));
    }).catch(function () { pending = false; });
  }
  if (regions.length && window.EventSource) {
    var kinds = ["escalation.opened", "escalation.claimed", "escalation.resolved", "escalation.handed_back",
      "escalation.customer_waiting", "escalation.sla_near_breach", "message.in", "message.out",
      "appointment.created", "appointment.moved", "appointment.cancelled", "customer.note_added"];
    var es = new EventSource("/api/v1/operator/events");
    kinds.forEach(function (k) { es.addEventListener(k, refresh); });
    es.onopen = function () {
      document.body.setAttribute("data-live", "on");
      if (status) { status.textContent = "live"; status.className = "live-on"; }
      refresh();
    };
    es.onerror = function () {
      document.body.setAttribute("data-live", "off");
      if (status) { status.textContent = "reconnecting…"; status.className = "live-off"; }
    };
  }
})();
