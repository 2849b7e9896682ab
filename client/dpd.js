/* dpd.js — the browser client of dpd, with the public API of Deployd's dpd.js (spec/deployd-1.2.md §11):
 * dpd(path) and the generated dpd.<resource> shortcuts, get/post/put/del/exec with callbacks fn(result, error)
 * and promises (then/fail/catch), setBaseUrl/getBaseUrl, _dpd.ajax and its headers, and realtime events
 * (on/once/off/socketReady) over the official socket.io client, which the server serves in front of this file
 * (client/package.json pins it; the build embeds it). Written for dpd; no code from Deployd. */
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
    closeSocket();
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

  // ---------------------------------------------------------------- realtime, on the official socket.io client
  // /dpd.js begins with socket.io-client's browser build (its global `io`, with `io.connect`, as Deployd's bundle
  // had): reconnection with backoff, transport fallback and upgrade are its own.
  var socket = null;
  var sessionId = null;
  var bound = {};  // event → [fn] as given to dpd.on (kept so a new socket after setBaseUrl gets them again)

  function ensureSocket() {
    if (socket) return socket;
    socket = root.io.connect(baseUrl, { forceNew: true });
    socket.on('connect', function () {
      if (sessionId) socket.emit('server:setSession', { sid: sessionId });
    });
    Object.keys(bound).forEach(function (ev) {
      bound[ev].forEach(function (fn) { socket.on(ev, fn); });
    });
    return socket;
  }
  function closeSocket() {
    if (socket) { socket.close(); socket = null; }
  }
  // Listeners get null for an event without data (Deployd's client did).
  function adapt(fn) {
    if (!fn.__dpd) fn.__dpd = function (data) { fn(data === undefined ? null : data); };
    return fn.__dpd;
  }

  dpd.on = function (event, fn) {
    (bound[event] = bound[event] || []).push(adapt(fn));
    ensureSocket().on(event, adapt(fn));
  };
  dpd.once = function (event, fn) {
    var once = function (d) { dpd.off(event, once); fn(d); };
    dpd.on(event, once);
  };
  dpd.off = function (event, fn) {
    if (!bound[event]) return;
    var s = ensureSocket();
    if (!fn) {
      bound[event].forEach(function (f) { s.off(event, f); });
      bound[event] = [];
      return;
    }
    var f = adapt(fn);
    bound[event] = bound[event].filter(function (g) { return g !== f; });
    s.off(event, f);
  };
  dpd.socketReady = function (fn) {
    var s = ensureSocket();
    if (s.connected) setTimeout(fn, 0); else s.once('connect', function () { fn(); });  // never synchronously
  };
  dpd.setSessionId = function (sid) {
    sessionId = sid;
    if (socket && socket.connected) socket.emit('server:setSession', { sid: sid });
  };
  Object.defineProperty(dpd, 'socket', { get: function () { return ensureSocket(); } });

  // dpd.<name> for each resource (the server appends a call to this for every collection).
  dpd._resource = function (jsName, path, isUsers, isCollection) {
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
    // aggregate(pipeline, fn): GET /<col>/aggregate?[pipeline] (dpd's addition, docs/aggregate.md)
    if (isCollection) r.aggregate = function (pipeline, fn) { return r.get('aggregate', pipeline, fn); };
    dpd[jsName] = r;
  };

  root.dpd = dpd;
})(window);
