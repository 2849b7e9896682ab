/* dpd.js — the browser client of dpd, with the public API of Deployd's dpd.js (spec/deployd-1.2.md §11):
 * dpd(path) and the generated dpd.<resource> shortcuts, get/post/put/del/exec with callbacks fn(result, error)
 * and promises (then/fail/catch), setBaseUrl/getBaseUrl, and realtime events (on/once/off/socketReady) over a
 * small socket.io client of its own (Engine.IO 4 over WebSocket, long-polling when WebSocket is unavailable).
 * Written for dpd; no code from Deployd or socket.io. */
(function (root) {
  'use strict';

  // ---------------------------------------------------------------- base URL
  function scriptOrigin() {
    var scripts = document.getElementsByTagName('script');
    for (var i = scripts.length - 1; i >= 0; i--) {
      var src = scripts[i].src || '';
      var m = src.match(/^(https?:\/\/[^/]+)\/.*dpd\.js(\?.*)?$/);
      if (m) return m[1];
    }
    return location.protocol + '//' + location.host;
  }
  var baseUrl = scriptOrigin();

  // ---------------------------------------------------------------- promises
  // A promise with Deployd's surface: then(ok, fail), fail(fn), catch(fn).
  function wrap(p) {
    return {
      then: function (a, b) { return wrap(p.then(a, b)); },
      fail: function (f) { return wrap(p.then(undefined, f)); },
      'catch': function (f) { return wrap(p.then(undefined, f)); },
      'finally': function (f) { return wrap(p.then(function (v) { f(); return v; }, function (e) { f(); throw e; })); }
    };
  }

  // ---------------------------------------------------------------- HTTP
  // Deployd's pages set request headers through window._dpd.ajax.headers ({'dpd-ssh-key': true},
  // {Authorization: 'Bearer <sid>'}, or null): it is read at every request, so an assignment takes effect at once.
  function ajaxHeaders() {
    var h = root._dpd && root._dpd.ajax && root._dpd.ajax.headers;
    return h && typeof h === 'object' ? h : {};
  }
  function encodeQuery(query) {
    if (!query || typeof query !== 'object') return '';
    var keys = Object.keys(query);
    if (!keys.length) return '';
    for (var i = 0; i < keys.length; i++) {
      if (typeof query[keys[i]] !== 'string') return '?' + encodeURIComponent(JSON.stringify(query));
    }
    return '?' + keys.map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(query[k]); }).join('&');
  }
  function request(method, url, query, body, fn) {
    var p = new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open(method, baseUrl + url + encodeQuery(query), true);
      xhr.withCredentials = true;
      xhr.setRequestHeader('Accept', 'application/json');
      var send = null;
      if (method === 'POST' || method === 'PUT') {
        xhr.setRequestHeader('Content-Type', 'application/json');
        send = JSON.stringify(body === undefined ? {} : body);
      }
      var headers = ajaxHeaders();
      Object.keys(headers).forEach(function (h) { xhr.setRequestHeader(h, String(headers[h])); });
      xhr.onreadystatechange = function () {
        if (xhr.readyState !== 4) return;
        var text = xhr.responseText;
        var data = text;
        if (xhr.getResponseHeader('Content-Type') === 'application/json' && text) {
          try { data = JSON.parse(text); } catch (e) { data = text; }
        }
        var token = xhr.getResponseHeader('X-Session-Token');
        if (token) dpd.setSessionId(token);
        if (xhr.status === 200 || xhr.status === 204 || xhr.status === 304) resolve(data);
        else reject(data || { message: 'request failed', status: xhr.status });
      };
      xhr.send(send);
    });
    if (typeof fn === 'function') {
      p.then(function (r) { fn(r); }, function (e) { fn(null, e); });
    }
    return wrap(p);
  }

  // ---------------------------------------------------------------- argument parsing (strings/numbers = path)
  function isPath(a) { return typeof a === 'string' || typeof a === 'number'; }
  function join(base, parts) {
    var out = base.replace(/\/+$/, '');
    for (var i = 0; i < parts.length; i++) {
      var s = String(parts[i]).replace(/^\/+|\/+$/g, '');
      if (s !== '') out += '/' + s;
    }
    return out;
  }
  function readArgs(args) {
    var i = 0, segs = [], query, fn;
    while (i < args.length && isPath(args[i])) segs.push(args[i++]);
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') query = args[i++];
    if (typeof args[i] === 'function') fn = args[i];
    return { segs: segs, query: query, fn: fn };
  }
  function writeArgs(args) {
    var i = 0, segs = [], query, body, fn;
    while (i < args.length && isPath(args[i])) segs.push(args[i++]);
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') body = args[i++];
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') { query = body; body = args[i++]; }
    if (typeof args[i] === 'function') fn = args[i];
    return { segs: segs, query: query, body: body, fn: fn };
  }

  function dpd(path) {
    var base = '/' + String(path).replace(/^\/+/, '');
    return {
      get: function () { var a = readArgs(arguments); return request('GET', join(base, a.segs), a.query, undefined, a.fn); },
      del: function () { var a = readArgs(arguments); return request('DELETE', join(base, a.segs), a.query, undefined, a.fn); },
      post: function () { var a = writeArgs(arguments); return request('POST', join(base, a.segs), a.query, a.body, a.fn); },
      put: function () { var a = writeArgs(arguments); return request('PUT', join(base, a.segs), a.query, a.body, a.fn); },
      exec: function (func) {
        var a = writeArgs(Array.prototype.slice.call(arguments, 1));
        return request('POST', join(base, [func].concat(a.segs)), a.query, a.body, a.fn);
      }
    };
  }

  // setBaseUrl(): from the <script src=…/dpd.js> tag again (or the page); setBaseUrl({hostname, port, protocol}):
  // what is not given comes from the page's location; setBaseUrl('http://host:2403/').
  dpd.setBaseUrl = function (url) {
    if (url === undefined || url === null || url === '') {
      url = scriptOrigin();
    } else if (typeof url === 'object') {
      var port = url.port !== undefined ? url.port : location.port;
      url = (url.protocol || location.protocol).replace(/:?$/, ':') + '//' + (url.hostname || location.hostname) +
            (port ? ':' + port : '');
    }
    baseUrl = String(url).replace(/\/+$/, '');
    if (socket) { socket.close(); socket = null; }
  };
  dpd.getBaseUrl = function () { return baseUrl + '/'; };  // with Deployd's trailing slash
  // Deployd's XHR helper: _dpd.ajax(url, {method, query, data, success(result), error(err)}) and its headers.
  var ajax = function (url, options) {
    options = options || {};
    var path = String(url).indexOf(baseUrl) === 0 ? String(url).slice(baseUrl.length) : String(url);
    return request((options.method || 'GET').toUpperCase(), path, options.query, options.data, function (r, e) {
      if (e) { if (options.error) options.error(e); } else if (options.success) options.success(r);
    });
  };
  ajax.headers = {};
  root._dpd = { ajax: ajax };

  // ---------------------------------------------------------------- realtime: a small socket.io client
  var listeners = {};   // event → [fn]
  var readyQueue = [];
  var socket = null;
  var sessionId = null;

  function Socket(url) {
    this.url = url;
    this.connected = false;
    this.closed = false;
    this.retries = 0;
    this.open();
  }
  Socket.prototype.open = function () {
    var self = this;
    if (typeof WebSocket === 'function' && !self.pollingOnly) {
      var ws = new WebSocket(self.url.replace(/^http/, 'ws') + '/socket.io/?EIO=4&transport=websocket');
      var opened = false;
      self.ws = ws;
      ws.onopen = function () { opened = true; };
      ws.onmessage = function (e) { if (typeof e.data === 'string') self.packet(e.data); };
      ws.onclose = function () {
        if (self.ws !== ws) return;
        self.ws = null;
        if (!opened && !self.connected && self.retries === 0) { self.pollingOnly = true; self.open(); return; }
        self.lost();
      };
      self.send = function (text) { if (ws.readyState === 1) ws.send(text); };
      return;
    }
    self.poll();
  };
  // Long-polling (Engine.IO 4: packets separated by \x1e).
  Socket.prototype.poll = function () {
    var self = this;
    var pending = [];
    var posting = false;
    function url() { return self.url + '/socket.io/?EIO=4&transport=polling' + (self.sid ? '&sid=' + self.sid : '') + '&t=' + Date.now(); }
    function flush() {
      if (posting || !pending.length || !self.sid) return;
      posting = true;
      var body = pending.join('\x1e');
      pending = [];
      var x = new XMLHttpRequest();
      x.open('POST', url(), true);
      x.setRequestHeader('Content-Type', 'text/plain;charset=UTF-8');
      x.onreadystatechange = function () { if (x.readyState === 4) { posting = false; flush(); } };
      x.send(body);
    }
    function get() {
      if (self.closed) return;
      var x = new XMLHttpRequest();
      x.open('GET', url(), true);
      x.onreadystatechange = function () {
        if (x.readyState !== 4) return;
        if (x.status !== 200) { self.sid = null; self.lost(); return; }
        x.responseText.split('\x1e').forEach(function (p) { self.packet(p); });
        if (self.sid) get();
      };
      x.send(null);
    }
    self.send = function (text) { pending.push(text); flush(); };
    self.afterOpen = flush;
    get();
  };
  Socket.prototype.packet = function (p) {
    var type = p.charAt(0);
    if (type === '0') {  // engine open
      this.sid = JSON.parse(p.slice(1)).sid;
      this.send('40');
      if (this.afterOpen) this.afterOpen();
    } else if (type === '2') {
      this.send('3' + p.slice(1));
    } else if (type === '1') {
      this.lost();
    } else if (type === '4') {
      this.message(p.slice(1));
    }
  };
  Socket.prototype.message = function (m) {
    var t = m.charAt(0);
    if (t === '0') {  // connected
      var wasReconnect = this.retries > 0 || this.everConnected;
      this.connected = true;
      this.everConnected = true;
      this.retries = 0;
      if (sessionId) this.emit('server:setSession', { sid: sessionId });
      fire(wasReconnect ? 'reconnect' : 'connect');
      var q = readyQueue; readyQueue = [];
      q.forEach(function (fn) { fn(); });
    } else if (t === '2') {
      var args;
      try { args = JSON.parse(m.slice(m.indexOf('['))); } catch (e) { return; }
      fire(args[0], args[1]);
    }
  };
  Socket.prototype.emit = function (event, data) {
    this.send('42' + JSON.stringify(data === undefined ? [event] : [event, data]));
  };
  Socket.prototype.lost = function () {
    var self = this;
    if (self.closed) return;
    var was = self.connected;
    self.connected = false;
    self.sid = null;
    if (was) fire('disconnect');
    var delay = Math.min(10000, 500 * Math.pow(2, self.retries++));
    setTimeout(function () { if (!self.closed) self.open(); }, delay);
  };
  Socket.prototype.close = function () {
    this.closed = true;
    if (this.ws) { var ws = this.ws; this.ws = null; ws.close(); }
  };

  function fire(event, data) {
    var fns = (listeners[event] || []).slice();
    for (var i = 0; i < fns.length; i++) fns[i](data === undefined ? null : data);
  }
  function ensureSocket() {
    if (!socket) socket = new Socket(baseUrl);
    return socket;
  }

  dpd.on = function (event, fn) { ensureSocket(); (listeners[event] = listeners[event] || []).push(fn); };
  dpd.once = function (event, fn) {
    var once = function (d) { dpd.off(event, once); fn(d); };
    dpd.on(event, once);
  };
  dpd.off = function (event, fn) {
    if (!listeners[event]) return;
    listeners[event] = fn ? listeners[event].filter(function (f) { return f !== fn; }) : [];
  };
  dpd.socketReady = function (fn) {
    var s = ensureSocket();
    if (s.connected) setTimeout(fn, 0); else readyQueue.push(fn);  // never synchronously (Deployd)
  };
  dpd.setSessionId = function (sid) {
    sessionId = sid;
    if (socket && socket.connected) socket.emit('server:setSession', { sid: sid });
  };
  Object.defineProperty(dpd, 'socket', { get: function () { return ensureSocket(); } });

  // dpd.<name> for each resource (the server appends a call to this for every collection).
  dpd._resource = function (jsName, path, isUsers) {
    var r = dpd(path);
    var prefix = path.replace(/^\//, '') + ':';
    r.on = function (ev, fn) { dpd.on(prefix + ev, fn); };
    r.once = function (ev, fn) { dpd.once(prefix + ev, fn); };
    r.off = function (ev, fn) { dpd.off(prefix + ev, fn); };
    if (isUsers) {
      r.login = function (credentials, fn) { return r.exec('login', credentials, fn); };
      r.logout = function (fn) { return r.exec('logout', fn); };
      r.me = function () { return r.get.apply(r, ['me'].concat(Array.prototype.slice.call(arguments))); };
    } else {
      r.rename = function () { return r.exec.apply(r, ['rename'].concat(Array.prototype.slice.call(arguments))); };
    }
    dpd[jsName] = r;
  };

  root.dpd = dpd;
})(window);
