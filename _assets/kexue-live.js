/* Live code from the page: the "Run live" button of every chapter (see _ext/kexue_live.py).
 *
 * `make live` (scripts/live.py) serves the built book on 127.0.0.1 and starts a Jupyter server on
 * 127.0.0.1 that accepts this origin only and requires a random token; it prints one address,
 * .../index.html#kexue-live=<server>&kexue-token=<token>. This script takes the server and token
 * from that fragment, keeps them in sessionStorage (this tab only) and removes the fragment from
 * the address bar: the token is never written into the book's files.
 *
 * "Run live" starts a kernel for the chapter (Jupyter REST API) and talks to it over the kernel's
 * websocket (JSON messages of the Jupyter protocol): each code cell gets a Run button and the bar a
 * "Run all" button; outputs are drawn below the cell (text, HTML, PNG/SVG, errors). Each explorer
 * opens a comm to the target "kexue.explorer" (kexue.widgets.live_comm) with its name and control
 * positions; the kernel answers every new position with the frame it computes, and the explorer is
 * drawn by the same renderer as JupyterLab's live widget (window.kexueExplorer.render from
 * _static/kexue-explorer.js, its model a small adapter over the comm). Without a server, the button
 * says how to start one and the page keeps its kernel-free explorers. Nothing is requested from
 * any server before the reader presses the button.
 */
(function () {
  "use strict";
  var KEY = "kexue-live";
  var LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d{1,5}$/;
  var CSS = [
    ".kx-live-bar { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4em 0.8em; margin: 0 0 1em; font-size: 0.9em; }",
    ".kx-live-bar button, button.kx-run-cell { font: inherit; font-size: 0.9em; color: inherit; background: var(--pst-color-surface, #f4f4f4); border: 1px solid var(--pst-color-border, #bbb); border-radius: 4px; padding: 0.15em 0.7em; cursor: pointer; }",
    ".kx-live-bar button:disabled, button.kx-run-cell:disabled { opacity: 0.55; cursor: default; }",
    ".kx-live-status { color: var(--pst-color-text-muted, #555); }",
    ".kx-live-status code { font-size: 0.95em; }",
    "button.kx-run-cell { float: right; font-size: 0.75em; margin: 0.15em 0 0.15em 0.5em; position: relative; z-index: 2; }",
    ".cell.kx-running > button.kx-run-cell::after { content: ' …'; }",
    ".kx-live-output { border-left: 3px solid #0072B2; padding-left: 0.6em; margin: 0.3em 0 0.8em; }",
    ".kx-live-output pre { margin: 0.2em 0; padding: 0.4em 0.6em; white-space: pre-wrap; font-size: 0.85em; background: none; border: none; }",
    ".kx-live-output pre.kx-stderr { background: #fff4e5; }",
    ".kx-live-output pre.kx-traceback { color: #b00020; background: #fff0f0; }",
    ".kx-live-output img { max-width: 100%; }"
  ].join("\n");

  function conf() {
    try {
      var c = JSON.parse(sessionStorage.getItem(KEY) || "null");
      return c && LOOPBACK.test(c.url) && c.token ? c : null;
    } catch (e) { return null; }
  }

  // the server's address and token, from the fragment `make live` prints, for this tab only
  function takeFragment() {
    var h = location.hash.replace(/^#/, "");
    if (h.indexOf("kexue-token=") < 0) return;
    var p = new URLSearchParams(h), url = (p.get("kexue-live") || "").replace(/\/+$/, ""), token = p.get("kexue-token");
    try {
      if (LOOPBACK.test(url) && token) sessionStorage.setItem(KEY, JSON.stringify({ url: url, token: token }));
    } catch (e) { /* no sessionStorage: live mode stays off */ }
    history.replaceState(null, "", location.pathname + location.search);
  }

  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : null;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    return Math.random().toString(16).slice(2) + Date.now().toString(16);
  }
  function node(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* ---- a kernel: REST to start it, the websocket for its messages ---------------------- */
  function Kernel(c, id) {
    var self = this, session = uuid();
    this.c = c; this.id = id; this.session = session;
    this.handlers = {}; this.comms = {}; this.onclose = null;
    this.ws = new WebSocket(c.url.replace(/^http/, "ws") + "/api/kernels/" + encodeURIComponent(id) +
      "/channels?session_id=" + session + "&token=" + encodeURIComponent(c.token));
    this.opened = new Promise(function (ok, fail) {
      self.ws.onopen = function () { ok(); };
      self.ws.onerror = function () { fail(new Error("the kernel's websocket did not open")); };
    });
    this.ws.onclose = function () { if (self.onclose) self.onclose(); };
    this.ws.onmessage = function (ev) {
      if (typeof ev.data !== "string") return;
      var msg = JSON.parse(ev.data), type = msg.header && msg.header.msg_type;
      if (type === "comm_msg" || type === "comm_close") {
        var cb = self.comms[msg.content.comm_id];
        if (cb) cb(type === "comm_close" ? { ready: false, closed: true, error: "the kernel closed the comm" } : msg.content.data);
        return;
      }
      var h = self.handlers[msg.parent_header && msg.parent_header.msg_id];
      if (h) h(msg);
    };
  }
  Kernel.prototype.send = function (type, content) {
    var id = uuid();
    this.ws.send(JSON.stringify({
      header: { msg_id: id, msg_type: type, username: "", session: this.session, date: new Date().toISOString(), version: "5.3" },
      parent_header: {}, metadata: {}, content: content, buffers: [], channel: "shell"
    }));
    return id;
  };
  // resolves with the execute_reply's content once the kernel is idle again
  Kernel.prototype.execute = function (code, onOutput, silent) {
    var self = this;
    return new Promise(function (ok) {
      var reply = null, idle = false;
      var id = self.send("execute_request", { code: code, silent: !!silent, store_history: !silent,
        user_expressions: {}, allow_stdin: false, stop_on_error: true });
      self.handlers[id] = function (msg) {
        var t = msg.header.msg_type;
        if (t === "execute_reply") reply = msg.content;
        else if (t === "status") idle = msg.content.execution_state === "idle";
        else if (onOutput) onOutput(msg);
        if (reply && idle) { delete self.handlers[id]; ok(reply); }
      };
    });
  };
  Kernel.prototype.openComm = function (target, data, onData) {
    var id = uuid();
    this.comms[id] = onData;
    this.send("comm_open", { comm_id: id, target_name: target, data: data });
    var self = this;
    return function (d) { self.send("comm_msg", { comm_id: id, data: d }); };
  };
  Kernel.prototype.shutdown = function () {
    this.onclose = null;
    try { this.ws.close(); } catch (e) { /* already closed */ }
    return fetch(this.c.url + "/api/kernels/" + encodeURIComponent(this.id),
      { method: "DELETE", headers: { Authorization: "token " + this.c.token } }).catch(function () {});
  };

  function startKernel(c, path) {
    return fetch(c.url + "/api/kernels", {
      method: "POST", headers: { Authorization: "token " + c.token, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "python3", path: path || "" })
    }).then(function (r) {
      if (!r.ok) throw new Error("the server refused to start a kernel (HTTP " + r.status + (r.status === 403 ? ": wrong token" : "") + ")");
      return r.json();
    }).then(function (model) { return new Kernel(c, model.id); });
  }

  /* ---- outputs ------------------------------------------------------------------------- */
  function stripAnsi(s) { return String(s).replace(/\x1b\[[0-9;]*[A-Za-z]/g, ""); }

  function showData(area, data, live) {
    var e;
    if (data["application/vnd.jupyter.widget-view+json"]) {
      e = node("pre", "kx-note", "(a live widget: on this page the explorer below it runs live instead)");
    } else if (data["text/html"] !== undefined) {
      e = node("div", "output text_html");
      e.innerHTML = [].concat(data["text/html"]).join("");
      area.appendChild(e);                     // first: the explorer hides the PNG of its cell
      e.querySelectorAll(".kx-explorer").forEach(function (root) {
        if (window.kexueExplorer) window.kexueExplorer.mountStatic(root);
        live.explorer(root);
      });
      if (window.MathJax && MathJax.typesetPromise) MathJax.typesetPromise([e]).catch(function () {});
      return;
    } else if (data["image/png"] !== undefined) {
      e = node("img");
      e.src = "data:image/png;base64," + [].concat(data["image/png"]).join("").replace(/\s/g, "");
    } else if (data["image/svg+xml"] !== undefined) {
      e = node("div", "output"); e.innerHTML = [].concat(data["image/svg+xml"]).join("");
    } else if (data["text/plain"] !== undefined) {
      e = node("pre", "kx-text", stripAnsi([].concat(data["text/plain"]).join("")));
    } else {
      return;                        // only kinds this page does not show (e.g. glued values)
    }
    area.appendChild(e);
  }

  function showOutput(area, msg, live) {
    var t = msg.header.msg_type, c = msg.content;
    if (t === "stream") {
      var last = area.lastElementChild, cls = "kx-stream kx-" + c.name;
      if (last && last.className === cls) last.textContent += c.text;
      else area.appendChild(node("pre", cls, c.text));
    } else if (t === "error") {
      area.appendChild(node("pre", "kx-traceback", stripAnsi((c.traceback || [c.ename + ": " + c.evalue]).join("\n"))));
    } else if (t === "execute_result" || t === "display_data") {
      showData(area, c.data || {}, live);
    } else if (t === "clear_output") {
      area.replaceChildren();
    }
  }

  /* ---- live mode of one page ----------------------------------------------------------- */
  function LivePage(bar, status, button) {
    this.bar = bar; this.status = status; this.button = button;
    this.kernel = null; this.cells = []; this.hosts = [];
    this.module = meta("kexue-live-explorers");
  }

  LivePage.prototype.say = function (html) { this.status.innerHTML = html; };

  LivePage.prototype.start = function () {
    var self = this, c = conf();
    if (!c) {
      this.bar.setAttribute("data-kx-live", "no-server");
      this.say("Live mode runs this page's code in a Jupyter kernel on your computer. In a clone of the book run " +
        "<code>make live</code> and open the address it prints. Until then the figures on this page " +
        "answer from their precomputed states.");
      return;
    }
    this.button.disabled = true;
    this.bar.setAttribute("data-kx-live", "starting");
    this.say("Starting a kernel…");
    startKernel(c, meta("kexue-live-path")).then(function (k) {
      self.kernel = k;
      k.onclose = function () { self.lost(); };
      return k.opened.then(function () {
        return k.execute("from kexue.widgets import live_comm as _kx_live\n_kx_live.register()", null, true);
      });
    }).then(function (reply) {
      if (reply.status !== "ok") throw new Error("the kernel could not import kexue (" + (reply.ename || "") + ": " + (reply.evalue || "") + ")");
      self.ready();
    }).catch(function (err) {
      if (self.kernel) self.kernel.shutdown();
      self.kernel = null;
      self.button.disabled = false;
      self.bar.setAttribute("data-kx-live", "failed");
      self.say("No live server answered at " + c.url + " (" + (err && err.message ? err.message : err) +
        "). Start <code>make live</code> again and open the address it prints; the figures keep their precomputed states.");
    });
  };

  LivePage.prototype.ready = function () {
    var self = this;
    this.button.textContent = "Stop live";
    this.button.disabled = false;
    var all = node("button", "kx-run-all", "Run all");
    all.type = "button";
    all.addEventListener("click", function () { self.runAll(all); });
    this.bar.insertBefore(all, this.status);
    this.cells = [].slice.call(document.querySelectorAll("main div.cell")).filter(function (cell) {
      return cell.querySelector(".cell_input pre");
    });
    this.cells.forEach(function (cell) {
      var b = node("button", "kx-run-cell", "Run");
      b.type = "button"; b.title = "Run this cell in the kernel";
      b.addEventListener("click", function () { self.run(cell); });
      cell.insertBefore(b, cell.firstChild);
    });
    document.querySelectorAll("main .kx-explorer:not(.kx-live)").forEach(function (root) { self.explorer(root); });
    this.bar.setAttribute("data-kx-live", "on");
    this.say("Live: a kernel runs this page (" + this.cells.length + " cells; run them in order, or all at once). " +
      "The figures now draw frames the kernel computes.");
  };

  LivePage.prototype.run = function (cell) {
    var self = this, k = this.kernel;
    if (!k) return Promise.resolve({ status: "abort" });
    var stored = cell.querySelector(".cell_output:not(.kx-live-output)");
    var area = cell.querySelector(".kx-live-output");
    if (!area) {
      area = node("div", "cell_output kx-live-output");
      if (stored) stored.parentNode.insertBefore(area, stored); else cell.appendChild(area);
    }
    if (stored) stored.style.display = "none";
    area.replaceChildren();
    cell.classList.add("kx-running");
    var btn = cell.querySelector("button.kx-run-cell");
    if (btn) btn.disabled = true;
    return k.execute(cell.querySelector(".cell_input pre").textContent, function (msg) { showOutput(area, msg, self); })
      .then(function (reply) {
        cell.classList.remove("kx-running");
        if (btn) btn.disabled = false;
        cell.setAttribute("data-kx-run", reply.status);
        return reply;
      });
  };

  LivePage.prototype.runAll = function (button) {
    var self = this, i = 0;
    button.disabled = true;
    var next = function () {
      if (i >= self.cells.length) return Promise.resolve("ok");
      return self.run(self.cells[i++]).then(function (r) { return r.status === "ok" ? next() : r.status; });
    };
    return next().then(function (st) {
      button.disabled = false;
      self.bar.setAttribute("data-kx-run-all", st);
    });
  };

  // an explorer drawn by the same renderer as the live widget, its frames from the kernel
  LivePage.prototype.explorer = function (root) {
    var self = this;
    if (!this.kernel || !this.module || !window.kexueExplorer || root.getAttribute("data-kx-live-state")) return;
    var data;
    try { data = JSON.parse(root.querySelector("script.kx-data").textContent); } catch (e) { return; }
    var controls = data.controls, n = controls.map(function (c) { return c.labels.length; });
    var k = +(root.getAttribute("data-kx-frame") || 0), idx = {};     // where the reader left it
    for (var i = controls.length - 1; i >= 0; i--) { idx[controls[i].name] = k % n[i]; k = Math.floor(k / n[i]); }
    var spec = { name: data.name, controls: controls }, model = null;
    root.setAttribute("data-kx-live-state", "opening");
    var send = this.kernel.openComm("kexue.explorer",
      { module: this.module, name: data.name, spec: spec, index: idx }, function (d) {
        if (model) { if (!d.closed) model.receive(d); return; }
        if (!d.ready) {               // this kernel cannot run it: keep the precomputed frames
          root.setAttribute("data-kx-live-state", "static");
          root.setAttribute("title", "Not live: " + d.error);
          return;
        }
        model = adapter({ spec: spec, index: idx, seq: 0, frame: d.frame, frame_seq: 0, frame_index: d.frame_index,
          rev: 1, error: d.error || "" }, send);
        var host = node("div", "kx-live-host");
        root.parentNode.insertBefore(host, root);
        root.style.display = "none";
        root.setAttribute("data-kx-live-state", "live");
        window.kexueExplorer.render({ model: model, el: host });
        self.hosts.push([host, root]);
      });
  };

  // what render() needs of an anywidget model, over the explorer's comm
  function adapter(state, send) {
    var on = {};
    return {
      get: function (k) { return state[k]; },
      set: function (k, v) { state[k] = v; },
      save_changes: function () { send({ index: state.index, seq: state.seq }); },
      on: function (ev, f) { (on[ev] = on[ev] || []).push(f); },
      off: function (ev, f) { on[ev] = (on[ev] || []).filter(function (g) { return g !== f; }); },
      receive: function (d) {
        state.frame = d.frame || {}; state.frame_seq = d.frame_seq; state.error = d.error || "";
        state.frame_index = d.frame_index;
        state.rev += 1;
        (on["change:rev"] || []).forEach(function (f) { f(); });
      }
    };
  }

  // the kernel went away: the explorers answer from their precomputed frames again
  LivePage.prototype.lost = function () {
    this.kernel = null;
    this.restore();
    this.bar.setAttribute("data-kx-live", "lost");
    this.say("The connection to the kernel closed; the figures answer from their precomputed states again. " +
      "Reload the page to start again.");
    this.button.disabled = true;
  };

  LivePage.prototype.restore = function () {
    this.hosts.forEach(function (hr) { hr[0].remove(); hr[1].style.display = ""; hr[1].removeAttribute("data-kx-live-state"); });
    this.hosts = [];
    document.querySelectorAll("main button.kx-run-cell, .kx-live-bar .kx-run-all").forEach(function (b) { b.disabled = true; });
  };

  LivePage.prototype.stop = function () {
    var k = this.kernel, self = this;
    this.kernel = null;
    this.restore();
    this.button.disabled = true;
    this.say("Stopping the kernel…");
    (k ? k.shutdown() : Promise.resolve()).then(function () { location.reload(); });
  };

  function boot() {
    takeFragment();
    if (!meta("kexue-live-path")) return;               // not a chapter with code
    var article = document.querySelector("article.bd-article") || document.querySelector("main article") ||
      document.querySelector("main");
    if (!article) return;
    var st = document.createElement("style");
    st.id = "kx-live-css"; st.textContent = CSS;
    document.head.appendChild(st);
    var bar = node("div", "kx-live-bar"), button = node("button", "kx-live-toggle", "Run live");
    var status = node("span", "kx-live-status");
    button.type = "button";
    button.title = "Run this page's code and figures in a Jupyter kernel on your computer (make live)";
    bar.appendChild(button); bar.appendChild(status);
    article.insertBefore(bar, article.firstChild);
    var live = new LivePage(bar, status, button);
    button.addEventListener("click", function () { if (live.kernel) live.stop(); else live.start(); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
