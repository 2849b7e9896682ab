#pragma once
// The JavaScript half of the resource-module host (script/node_host.h), run once per Node.js environment. It finds
// the app's module types as Deployd does (spec §1.5), maps `deployd/lib/resource`, `deployd/lib/script` and
// `deployd/lib/util/http` (and the relative forms modules inside Deployd's tree use) to dpd's own compatibility
// layer, makes instances, and turns each request message into a Deployd `ctx` (req as a readable stream of the
// body, res, done, dpd, session) whose answer goes back through binding.respond. Written for dpd from Deployd's
// documented behaviour; no Deployd code.
//
// The C++ side calls dispatch(op, payloadJson, bytes): "load" → {types, problems}; "create" → "" or the error;
// "destroy"; "handle" (answers later); "settle" (a dpd or store call's result).

namespace dpd::script {

inline constexpr const char* kNodeHostJs = R"JS(
(function (process, nativeRequire, binding) {
  'use strict';
  const Module = nativeRequire('module');
  const path = nativeRequire('path');
  const fs = nativeRequire('fs');
  const util = nativeRequire('util');
  const EventEmitter = nativeRequire('events');
  const { Readable } = nativeRequire('stream');
  const urlParse = nativeRequire('url').parse;

  const appDir = binding.appDir;
  process.chdir = function () { throw new Error('process.chdir is not available to dpd resource modules'); };
  global.require = Module.createRequire(path.join(appDir, 'package.json'));

  const logLine = (level) => function () {
    binding.log(level, Array.prototype.map.call(arguments, (a) => (typeof a === 'string' ? a : util.inspect(a))).join(' '));
  };
  for (const k of ['log', 'info', 'debug']) console[k] = logLine('info');
  console.warn = logLine('warn');
  console.error = logLine('error');
  process.on('uncaughtException', (e) => binding.log('error', 'uncaught exception: ' + (e && e.stack || e)));
  process.on('unhandledRejection', (e) => binding.log('error', 'unhandled rejection: ' + (e && e.stack || e)));

  // Node APIs that Deployd 1.2's era (Node 4–8) had and later Node removed, which published modules still call:
  // os.tmpDir (formidable 1.0, under dpd-fileupload) and the asynchronous fs calls without a callback (Node < 10
  // allowed that; dpd-fileupload creates its upload folder so). Only the forms that now throw are changed.
  const os = nativeRequire('os');
  if (typeof os.tmpDir !== 'function') os.tmpDir = os.tmpdir;
  for (const name of ['mkdir', 'rmdir', 'unlink', 'rename', 'writeFile', 'appendFile', 'close', 'chmod', 'utimes']) {
    const original = fs[name];
    if (typeof original !== 'function') continue;
    fs[name] = function () {
      const args = Array.prototype.slice.call(arguments);
      if (typeof args[args.length - 1] !== 'function') args.push(function (err) {
        if (err) binding.log('warn', 'fs.' + name + ' without a callback failed: ' + err.message);
      });
      return original.apply(this, args);
    };
  }

  // ---------------------------------------------------------------- the compatibility modules
  const compatFiles = new Map();  // 'resource' → synthetic file name
  function defineCompat(key, exportsValue) {
    const filename = path.join('/', '__dpd__', 'deployd', 'lib', key + '.js');
    const m = new Module(filename, null);
    m.filename = filename;
    m.loaded = true;
    m.exports = exportsValue;
    Module._cache[filename] = m;
    compatFiles.set(key, filename);
  }
  function compatKey(request) {
    let m = /^deployd\/lib\/(.+?)(?:\.js)?$/.exec(request);
    if (m) return { key: m[1], bare: true };
    m = /^(?:\.\.?\/)+(?:deployd\/)?lib\/(resource|script|util\/http)(?:\.js)?$/.exec(request);
    if (m) return { key: m[1], bare: false };
    return null;
  }
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, isMain, options) {
    const c = compatKey(request);
    if (c && compatFiles.has(c.key)) {
      if (c.bare) return compatFiles.get(c.key);
      try {
        return resolve.call(this, request, parent, isMain, options);
      } catch (e) {
        if (e && e.code === 'MODULE_NOT_FOUND') return compatFiles.get(c.key);
        throw e;
      }
    }
    return resolve.call(this, request, parent, isMain, options);
  };

  // --- Script: an event file of a module type, run with a domain (Deployd's Script.run) ---
  function Script(src, file) {
    this.scriptSourceCode = src;
    this.path = file;
    this.compiled = new Map();
  }
  Script.load = function (file, fn) {
    fs.readFile(file, 'utf-8', function (err, src) {
      if (src) fn(err, new Script(src, file)); else fn(err);
    });
  };
  Script.prototype.fnFor = function (names) {
    const key = names.join(',');
    let f = this.compiled.get(key);
    if (!f) {
      f = Function.apply(null, names.concat([this.scriptSourceCode + '\n//# sourceURL=' + this.path]));
      this.compiled.set(key, f);
    }
    return f;
  };
  Script.prototype.run = function (ctx, domain, fn) {
    if (typeof domain === 'function') { fn = domain; domain = undefined; }
    let finished = false;
    let pending = 0;
    let error;
    const finish = function (err) {
      if (finished) return;
      finished = true;
      if (fn) fn(err);
    };
    const release = function () {
      pending--;
      if (pending <= 0) setImmediate(function () { if (pending <= 0) finish(error); });
    };
    // A callback handed to a domain function counts until it has run; a promise one returns until it settles.
    const counted = function (cb) {
      pending++;
      let once = false;
      return function () {
        try {
          return cb.apply(this, arguments);
        } catch (e) {
          if (error === undefined) error = e;
          throw e;
        } finally {
          if (!once) { once = true; release(); }
        }
      };
    };
    const track = function (r) {
      if (r && typeof r.then === 'function') {
        pending++;
        r.then(function () { setImmediate(release); }, function () { setImmediate(release); });
      }
      return r;
    };
    const wrap = function (f, owner) {
      return function () {
        const args = Array.prototype.map.call(arguments, (a) => (typeof a === 'function' ? counted(a) : a));
        return track(f.apply(owner, args));
      };
    };
    const wrapObject = function (o, depth) {
      if (!o || typeof o !== 'object' || depth > 2) return o;
      const out = {};
      for (const k of Object.keys(o)) {
        const v = o[k];
        out[k] = typeof v === 'function' ? wrap(v, o) : (v && typeof v === 'object' && depth < 2 ? wrapObject(v, depth + 1) : v);
      }
      return out;
    };
    const session = ctx.session || {};
    const sandbox = {
      cancel: function (msg, status) {
        let err;
        if (msg instanceof Error) err = msg;
        else if (!status && msg && msg.message && (msg.status || msg.statusCode)) err = { message: msg.message, statusCode: msg.status || msg.statusCode };
        else err = { message: msg, statusCode: status };
        finish(err);
        throw err;
      },
      cancelIf: function (c, msg, status) { if (c) sandbox.cancel(msg, status); },
      cancelUnless: function (c, msg, status) { if (!c) sandbox.cancel(msg, status); },
      me: session.user,
      isMe: function (id) { return !!(session.user && session.user.id === id); },
      console: console,
      require: global.require,
      query: ctx.query,
      internal: !!(ctx.req && ctx.req.internal),
      isRoot: !!(ctx.req && ctx.req.isRoot),
      emit: function () { if (ctx.__emit) ctx.__emit(Array.prototype.slice.call(arguments)); },
      session: session,
      ctx: ctx,
    };
    let self = {};
    if (domain) {
      domain.$addCallback = function () { pending++; };
      domain.$finishCallback = function () { release(); };
      domain.dpd = ctx.dpd;
      for (const k of Object.keys(domain)) {
        if (k === 'this' || k === 'data') continue;
        const v = domain[k];
        if (k === '$addCallback' || k === '$finishCallback') sandbox[k] = v;
        else if (typeof v === 'function') sandbox[k] = wrap(v, domain);
        else if (k === 'dpd') sandbox[k] = wrapObject(v, 0);
        else sandbox[k] = v;
      }
      if (domain.data !== undefined) self = domain.data;
    }
    const names = Object.keys(sandbox);
    try {
      this.fnFor(names).apply(self || {}, names.map((n) => sandbox[n]));
    } catch (e) {
      if (error === undefined) error = e;
    }
    process.nextTick(function () { if (pending <= 0) finish(error); });
  };

  // --- Resource: the base of every module type ---
  function Resource(name, options) {
    EventEmitter.call(this);
    this.name = name;
    this.path = '/' + name;
    options = this.options = options || {};
    this.config = options.config || {};
    this.events = {};
    const ctor = this.constructor;
    if (ctor && ctor.external) {
      const self = this;
      this.external = {};
      for (const key of Object.keys(ctor.external)) {
        if (typeof ctor.external[key] === 'function') {
          this.external[key] = function () { ctor.external[key].apply(self, arguments); };
        }
      }
    }
  }
  util.inherits(Resource, EventEmitter);
  Resource.external = {};
  Resource.prototype.parse = function (u) {
    const parsed = urlParse(u, true);
    const parts = parsed.parts = parsed.pathname.split('/');
    parts.shift();
    parsed.basepath = parts[0];
    if (parts[parts.length - 1] === '') parts.pop();
    if (parts.length > 1) parsed.id = parts[parts.length - 1];
    const q = parsed.query.q;
    if (q && q[0] === '{' && q[q.length - 1] === '}') parsed.query.q = JSON.parse(q);
    return parsed;
  };
  Resource.prototype.load = function (fn) {
    const names = this.constructor && this.constructor.events;
    const dir = this.options && this.options.configPath;
    const events = this.events = {};
    if (!names || !names.length || !dir) return fn();
    let remaining = names.length;
    for (const e of names) {
      Script.load(path.join(dir, String(e).toLowerCase() + '.js'), function (err, script) {
        if (script) events[e] = script;
        if (--remaining <= 0) fn();
      });
    }
  };
  Resource.prototype.handle = function (ctx) { ctx.end(); };
  Resource.toJSON = function () { return { type: this.name, defaultPath: '/my-resource' }; };
  Resource.prototype.clientGeneration = false;
  Resource.prototype.clientGenerationGet = [];
  Resource.prototype.clientGenerationExec = [];
  Resource.prototype.__resource__ = true;

  // --- util/http: the helpers modules take from Deployd ---
  const httpUtil = {
    parseQuery: function (u) { return urlParse(u, true).query; },
    redirect: function (res, location, statusCode) {
      res.statusCode = statusCode || 302;
      res.setHeader('Location', location);
      res.end();
    },
    getBody: function (req, fn) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => fn(null, Buffer.concat(chunks).toString('utf-8')));
      req.on('error', fn);
    },
  };

  defineCompat('resource', Resource);
  defineCompat('script', Script);
  defineCompat('util/http', httpUtil);

  // ---------------------------------------------------------------- process.server (Deployd's server object)
  let nextCall = 1;
  const calls = new Map();  // call id → fn(ok, bodyJson)
  function storeCall(op, collection, args, fn) {
    const id = nextCall++;
    calls.set(id, function (ok, body) {
      if (typeof fn !== 'function') return;
      let value;
      try { value = body ? JSON.parse(body) : undefined; } catch (e) { value = body; }
      if (ok) fn(null, value); else fn(typeof value === 'string' ? new Error(value) : value);
    });
    binding.store(id, op, collection, JSON.stringify(args));
  }
  function createStore(namespace) {
    const name = String(namespace);
    const s = {
      namespace: name,
      insert: (obj, fn) => storeCall('insert', name, [obj === undefined ? null : obj], fn),
      find: function (query, fn) { if (typeof query === 'function') { fn = query; query = {}; } storeCall('find', name, [query || {}], fn); },
      first: function (query, fn) { if (typeof query === 'function') { fn = query; query = {}; } storeCall('first', name, [query || {}], fn); },
      update: (query, object, fn) => storeCall('update', name, [query || {}, object || {}], fn),
      remove: function (query, fn) { if (typeof query === 'function') { fn = query; query = {}; } storeCall('remove', name, [query || {}], fn); },
      count: function (query, fn) { if (typeof query === 'function') { fn = query; query = {}; } storeCall('count', name, [query || {}], fn); },
      rename: (to, fn) => storeCall('rename', name, [String(to)], fn),
      createUniqueIdentifier: () => nativeRequire('crypto').randomBytes(8).toString('hex'),
    };
    return s;
  }
  process.server = Object.assign(new EventEmitter(), {
    options: { env: binding.env, port: undefined },
    createStore: createStore,
    resources: [],
  });

  // ---------------------------------------------------------------- discovery (spec §1.5)
  const types = new Map();  // name → constructor
  function load() {
    const problems = [];
    const found = [];
    let candidates = [];
    const pkgFile = path.join(appDir, 'package.json');
    if (fs.existsSync(pkgFile)) {
      let pkg;
      try {
        pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf-8'));
      } catch (e) {
        problems.push('package.json: ' + e.message + ' (no resource modules loaded)');
        return { types: [], problems: problems };
      }
      if (pkg && (pkg.dependencies || pkg.devDependencies)) {
        candidates = Array.isArray(pkg.dpdInclude) && pkg.dpdInclude.length ? pkg.dpdInclude.slice()
          : Object.keys(pkg.dependencies || {}).concat(Object.keys(pkg.devDependencies || {}));
        const ignore = Array.isArray(pkg.dpdIgnore) ? pkg.dpdIgnore : [];
        candidates = candidates.filter((c) => typeof c === 'string' && ignore.indexOf(c) === -1);
      }
    } else {
      let dir = [];
      try { dir = fs.readdirSync(path.join(appDir, 'node_modules')); } catch (e) { dir = []; }
      candidates = dir.filter((f) => f.endsWith('.js') || f.indexOf('.') === -1);
    }
    // Deployd itself and the two modules dpd serves natively (/dpd.js, /dashboard) are not loaded.
    const native = new Set(['deployd', 'dpd-clientlib', 'dpd-dashboard']);
    for (const name of candidates) {
      if (native.has(name)) continue;
      const where = 'node_modules/' + name;
      let exported;
      try {
        exported = global.require(path.join(appDir, 'node_modules', name));
      } catch (e) {
        if (e && e.code === 'MODULE_NOT_FOUND' && String(e.message).indexOf(path.join(appDir, 'node_modules', name)) !== -1) continue;
        problems.push(where + ': ' + (e && e.stack ? String(e.stack).split('\n').slice(0, 3).join(' | ') : String(e)));
        continue;
      }
      if (typeof exported !== 'function' || !exported.prototype || !exported.prototype.__resource__) continue;
      const typeName = exported.name;
      if (!typeName) { problems.push(where + ': its resource constructor has no name'); continue; }
      if (typeName === 'Collection' || typeName === 'UserCollection' || types.has(typeName)) {
        problems.push(where + ': type ' + typeName + ' is defined already'); continue;
      }
      types.set(typeName, exported);
      let defaultPath;
      try { const j = typeof exported.toJSON === 'function' ? exported.toJSON() : null; defaultPath = j && j.defaultPath; } catch (e) { defaultPath = undefined; }
      const safe = (v) => { try { return v === undefined ? null : JSON.parse(JSON.stringify(v)); } catch (e) { return null; } };
      found.push({
        name: typeName,
        module: where,
        label: typeof exported.label === 'string' ? exported.label : typeName,
        defaultPath: typeof defaultPath === 'string' ? defaultPath : '/' + typeName.toLowerCase(),
        events: Array.isArray(exported.events) ? exported.events.filter((e) => typeof e === 'string') : [],
        clientGeneration: !!exported.prototype.clientGeneration,
        basicDashboard: safe(exported.basicDashboard),
        dashboard: safe(exported.dashboard),
        selfHost: typeof exported.selfHost === 'function',
      });
    }
    return { types: found, problems: problems };
  }

  // ---------------------------------------------------------------- instances
  const instances = new Map();  // id → {resource, ready, waiting}
  function create(msg) {
    const Type = types.get(msg.type);
    if (!Type) return 'unknown type ' + msg.type;
    let resource;
    try {
      if (msg.selfHost) {
        // A type that mounts an instance of its own (spec §1.5 item 4): Type.selfHost({config: {resources}, server})
        // returns it (its name is its path) or nothing. Answered "=<name>", or "-" for nothing.
        resource = Type.selfHost({ config: { resources: process.server.resources.slice() }, server: process.server });
        if (!resource) return '-';
        if (typeof resource.name !== 'string' || !resource.name || typeof resource.handle !== 'function') {
          return 'selfHost() returned something that is not a named resource';
        }
      } else {
        resource = new Type(msg.name, { config: msg.config || {}, configPath: msg.configPath, server: process.server, db: undefined });
      }
    } catch (e) {
      return String(e && e.stack ? String(e.stack).split('\n').slice(0, 3).join(' | ') : e);
    }
    const entry = { resource: resource, ready: false, waiting: [] };
    instances.set(msg.id, entry);
    process.server.resources.push(resource);
    const ready = function () {
      if (entry.ready) return;
      entry.ready = true;
      const w = entry.waiting;
      entry.waiting = [];
      for (const f of w) f();
    };
    try {
      if (typeof resource.load === 'function') resource.load(ready); else ready();
    } catch (e) {
      binding.log('error', 'resource ' + msg.name + ': load() threw ' + (e && e.stack || e));
      ready();
    }
    return msg.selfHost ? '=' + resource.name : '';
  }
  function destroy(msg) {
    const entry = instances.get(msg.id);
    if (!entry) return;
    instances.delete(msg.id);
    const i = process.server.resources.indexOf(entry.resource);
    if (i !== -1) process.server.resources.splice(i, 1);
  }

  // ---------------------------------------------------------------- requests
  const isPath = (a) => typeof a === 'string' || typeof a === 'number';
  function join() {
    const parts = [];
    for (let i = 0; i < arguments.length; i++) {
      const a = arguments[i];
      if (a === undefined || a === null) continue;
      const s = String(a).replace(/^\/+|\/+$/g, '');
      if (s !== '') parts.push(s);
    }
    return parts.join('/');
  }
  function readArgs(args) {
    let i = 0;
    const segs = [];
    while (i < args.length && segs.length < 2 && isPath(args[i])) segs.push(args[i++]);
    let query;
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') query = args[i++];
    const fn = typeof args[i] === 'function' ? args[i] : undefined;
    return { rest: join.apply(null, segs), query: query, fn: fn };
  }
  function writeArgs(args) {
    let i = 0;
    const segs = [];
    while (i < args.length && segs.length < 2 && isPath(args[i])) segs.push(args[i++]);
    let query;
    let body;
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') body = args[i++];
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') { query = body; body = args[i++]; }
    const fn = typeof args[i] === 'function' ? args[i] : undefined;
    return { rest: join.apply(null, segs), query: query, body: body, fn: fn };
  }
  // ctx.dpd: Deployd's internal client, through dpd's router with the caller's session (spec §10).
  function makeDpd(token, clients) {
    const call = function (method, base, rest, query, body, hasBody, fn) {
      const id = nextCall++;
      const p = new Promise(function (resolve, reject) {
        calls.set(id, function (ok, text) {
          let v;
          try { v = text ? JSON.parse(text) : undefined; } catch (e) { v = text; }
          if (typeof fn === 'function') {
            try { if (ok) fn(v); else fn(null, v); } catch (e) { binding.log('error', 'dpd callback threw: ' + (e && e.stack || e)); }
          }
          if (ok) resolve(v); else reject(v);
        });
      });
      if (typeof fn === 'function') p.catch(function () {});
      binding.dpd(token, id, method, base + (rest ? '/' + rest : ''),
                  query === undefined || query === null ? 'null' : JSON.stringify(query),
                  hasBody && body !== undefined ? JSON.stringify(body) : undefined);
      return p;
    };
    const dpd = {};
    for (const entry of clients || []) {
      const c = {};
      c.get = function () { const a = readArgs(arguments); return call('GET', entry.path, a.rest, a.query, undefined, false, a.fn); };
      c.del = function () { const a = readArgs(arguments); return call('DELETE', entry.path, a.rest, a.query, undefined, false, a.fn); };
      c.post = function () { const a = writeArgs(arguments); return call('POST', entry.path, a.rest, a.query, a.body, true, a.fn); };
      c.put = function () { const a = writeArgs(arguments); return call('PUT', entry.path, a.rest, a.query, a.body, true, a.fn); };
      c.exec = function (func) {
        const a = writeArgs(Array.prototype.slice.call(arguments, 1));
        return call('POST', entry.path, join(func, a.rest), a.query, a.body, true, a.fn);
      };
      if (entry.collection) {
        c.aggregate = function (pipeline, f) {
          return call('GET', entry.path, 'aggregate', { pipeline: pipeline }, undefined, false, f);
        };
      }
      if (entry.users) {
        c.me = function (f) { return call('GET', entry.path, 'me', undefined, undefined, false, f); };
        c.login = function (credentials, f) { return call('POST', entry.path, 'login', undefined, credentials, true, f); };
        c.logout = function (f) { return call('POST', entry.path, 'logout', undefined, undefined, false, f); };
      }
      dpd[entry.key] = c;
    }
    return dpd;
  }

  function errorShape(err, res) {
    let status = res.statusCode && res.statusCode >= 400 ? res.statusCode : 400;
    let body;
    if (err instanceof Error) {
      body = { message: err.message };
      if (err.statusCode) status = Number(err.statusCode) || status;
    } else if (err !== null && typeof err === 'object') {
      try { body = JSON.parse(JSON.stringify(err)); } catch (e) { body = { message: String(err) }; }
      if (!body || typeof body !== 'object' || Array.isArray(body)) body = { message: body };
      if (err.statusCode) status = Number(err.statusCode) || status;
    } else {
      body = { message: err };
    }
    return { status: status, body: body };
  }

  // The response a module writes itself (res.setHeader / writeHead / write / end). Up to STREAM_AFTER bytes it is
  // held and sent whole when it ends; past that it is sent as it is written (the server writes it chunked), and
  // write() returns false — 'drain' follows — while WINDOW bytes are not yet taken by the server.
  const STREAM_AFTER = 64 * 1024;
  const WINDOW = 1024 * 1024;
  const live = new Map();  // token → { abort(), drained(bytes) } of the requests not yet answered
  class Response extends EventEmitter {
    constructor(answer, part, mayStream) {
      super();
      this._part = part;
      this._mayStream = mayStream;  // not for dpd calls from scripts: their caller wants the whole answer
      this._streaming = false;
      this._unacked = 0;
      this._needDrain = false;
      this._aborted = false;
      this._queue = [];
      this.statusCode = 200;
      this.headersSent = false;
      this.finished = false;
      this.writableEnded = false;
      this._headers = new Map();
      this._chunks = [];
      this._size = 0;
      this._answer = answer;
    }
    setHeader(name, value) { this._headers.set(String(name).toLowerCase(), [String(name), value]); return this; }
    getHeader(name) { const h = this._headers.get(String(name).toLowerCase()); return h ? h[1] : undefined; }
    hasHeader(name) { return this._headers.has(String(name).toLowerCase()); }
    removeHeader(name) { this._headers.delete(String(name).toLowerCase()); }
    getHeaders() { const o = {}; for (const [k, v] of this._headers) o[k] = v[1]; return o; }
    getHeaderNames() { return Array.from(this._headers.keys()); }
    writeHead(status, reason, headers) {
      this.statusCode = Number(status) || 200;
      if (reason && typeof reason === 'object') headers = reason;
      if (headers) for (const k of Object.keys(headers)) this.setHeader(k, headers[k]);
      this.headersSent = true;
      return this;
    }
    headerList() {
      const out = [];
      for (const [, [name, value]] of this._headers) {
        if (Array.isArray(value)) for (const v of value) out.push([name, String(v)]);
        else if (value !== undefined) out.push([name, String(value)]);
      }
      return out;
    }
    write(chunk, encoding, cb) {
      if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
      if (this.finished) return false;
      if (chunk !== undefined && chunk !== null && !this._aborted) {
        const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk instanceof Uint8Array ? chunk : String(chunk), encoding);
        if (this._streaming) {
          this._send(b, false);
        } else {
          this._size += b.length;
          if (this._size > binding.responseBytes) {
            this.finished = this.writableEnded = true;
            this._answer({ kind: 'failed', status: 500, message: 'Module response larger than modules.response_bytes' });
            return false;
          }
          this._chunks.push(b);
          if (this._size >= STREAM_AFTER && this._mayStream) {
            this._streaming = true;
            const held = Buffer.concat(this._chunks);
            this._chunks = [];
            this._send(held, false);
          }
        }
      }
      this.headersSent = true;
      if (typeof cb === 'function') process.nextTick(cb);
      if (this._streaming && !this._aborted && (this._unacked >= WINDOW || this._queue.length > 0)) {
        this._needDrain = true;
        return false;
      }
      return true;
    }
    get writableNeedDrain() { return this._needDrain; }
    // Parts go to the server while less than WINDOW is untaken; a module that writes on regardless has the rest
    // held here, in its own heap (within modules.heap_bytes), never in the server.
    _send(bytes, end) {
      this._queue.push([bytes, end]);
      this._flush();
    }
    _flush() {
      while (this._queue.length > 0 && !this._aborted && this._unacked < WINDOW) {
        const [bytes, end] = this._queue.shift();
        this._unacked += bytes.length;
        this._part({ kind: 'part', end: end, status: this.statusCode, headers: this.headerList() }, bytes);
      }
    }
    _drained(bytes) {
      this._unacked -= bytes;
      this._flush();
      if (this._needDrain && this._unacked < WINDOW && this._queue.length === 0) {
        this._needDrain = false;
        this.emit('drain');
      }
    }
    _abort() {  // the server gave up on the request (its client left, or its time is up): writes are dropped
      if (this._aborted) return;
      this._aborted = true;
      this._needDrain = false;
      this._queue = [];
      this.emit('close');
    }
    end(chunk, encoding, cb) {
      if (typeof chunk === 'function') { cb = chunk; chunk = undefined; }
      if (typeof encoding === 'function') { cb = encoding; encoding = undefined; }
      if (this.finished) return this;
      if (chunk !== undefined && chunk !== null) this.write(chunk, encoding);
      if (this.finished) return this;
      this.finished = this.writableEnded = this.headersSent = true;
      if (this._streaming) this._send(Buffer.alloc(0), true);
      else this._answer({ kind: 'written', status: this.statusCode, headers: this.headerList() }, Buffer.concat(this._chunks));
      this.emit('finish');
      if (typeof cb === 'function') process.nextTick(cb);
      return this;
    }
  }

  function handle(msg, bytes) {
    const entry = instances.get(msg.instance);
    let answered = false;
    const answerHooks = [() => live.delete(msg.token)];
    const finish = () => { for (const hook of answerHooks.splice(0)) hook(); };
    const answer = function (a, body) {
      if (answered) return;
      answered = true;
      binding.respond(msg.token, JSON.stringify(a), body);
      finish();
    };
    const part = function (a, body) {  // a piece of a streamed response; the last one answers
      if (answered) return;
      if (a.end) answered = true;
      binding.respond(msg.token, JSON.stringify(a), body);
      if (a.end) finish();
    };
    if (!entry) return answer({ kind: 'failed', status: 500, message: 'resource not available' });
    if (!entry.ready) { entry.waiting.push(() => handle(msg, bytes)); return; }
    const headers = {};
    for (const [n, v] of msg.headers) headers[n] = headers[n] === undefined ? v : headers[n] + ', ' + v;
    let req;
    if (msg.bodyFd !== undefined) {
      // An upload on disk (docs/modules.md): read from a descriptor of our own, opened now while the server still
      // holds its own, and closed when the stream ends, the request is answered or its time is up.
      let fd = -1;
      try { fd = fs.openSync('/proc/self/fd/' + msg.bodyFd, 'r'); } catch (e) {
        return answer({ kind: 'failed', status: 500, message: 'Upload not readable: ' + e.message });
      }
      req = fs.createReadStream(null, { fd: fd, autoClose: true, highWaterMark: 64 * 1024 });
      const timer = setTimeout(() => req.destroy(), binding.requestTimeMs + 1000);
      timer.unref();
      req.once('close', () => clearTimeout(timer));
      answerHooks.push(() => { if (!req.destroyed) req.destroy(); });
    } else {
      req = new Readable({ read() {} });
      if (bytes && bytes.byteLength) req.push(Buffer.from(bytes));
      req.push(null);
    }
    const session = { id: msg.sid || undefined, user: msg.me || undefined, isRoot: msg.isRoot, data: { id: msg.sid || undefined } };
    Object.assign(req, {
      method: msg.method, url: msg.target, originalUrl: msg.target, headers: headers, httpVersion: '1.1',
      query: msg.query, body: msg.hasBody ? msg.body : undefined, session: session, isRoot: msg.isRoot,
      internal: msg.internal, connection: { remoteAddress: msg.ip }, socket: { remoteAddress: msg.ip },
    });
    const res = new Response(answer, part, !msg.internal);
    live.set(msg.token, {
      abort: () => { answered = true; finish(); res._abort(); },
      drained: (bytes) => res._drained(bytes),
    });
    const ctx = {
      req: req, res: res, url: msg.url, method: msg.method, query: msg.query || {},
      body: msg.hasBody ? msg.body : undefined, session: session, server: process.server,
      dpd: makeDpd(msg.token, msg.clients),
      __emit: function (args) { binding.emit(msg.token, JSON.stringify(args)); },
      end: function () { return res.end.apply(res, arguments); },
      done: function (err, result) {
        if (res.finished) return;
        if (res._streaming) {  // part of the body is out: an error can only cut it short
          if (!err) return res.end();
          res.finished = true;
          return answer({ kind: 'failed', status: 500, message: 'module failed after it began to answer' });
        }
        res.finished = true;
        if (err) {
          const e = errorShape(err, res);
          return answer({ kind: 'done', isError: true, status: e.status, error: e.body, headers: res.headerList() });
        }
        let text = false;
        let value = result;
        if (result !== null && typeof result === 'object' && !Buffer.isBuffer(result)) {
          try { value = JSON.parse(JSON.stringify(result)); } catch (e) {
            return answer({ kind: 'failed', status: 500, message: 'Module result is not JSON: ' + e.message });
          }
          if (value === undefined) value = null;
        } else {
          text = true;
          value = result === undefined || result === null ? '' : String(result);
        }
        answer({ kind: 'done', status: res.statusCode || 200, result: value, text: text, headers: res.headerList() });
      },
    };
    const next = function () { answer({ kind: 'next' }); };
    try {
      entry.resource.handle(ctx, next);
    } catch (e) {
      binding.log('error', 'resource ' + entry.resource.name + ': handle() threw ' + (e && e.stack || e));
      answer({ kind: 'failed', status: 500, message: e && e.message ? String(e.message) : String(e) });
    }
  }

  return function dispatch(op, payload, bytes) {
    const msg = JSON.parse(payload);
    switch (op) {
      case 'load': return JSON.stringify(load());
      case 'create': return create(msg);
      case 'destroy': destroy(msg); return '';
      case 'handle': handle(msg, bytes); return '';
      case 'abandon': { const l = live.get(msg.token); if (l) l.abort(); return ''; }
      case 'drained': { const l = live.get(msg.token); if (l) l.drained(msg.bytes); return ''; }
      case 'settle': {
        const f = calls.get(msg.id);
        calls.delete(msg.id);
        if (f) f(msg.ok, msg.body);
        return '';
      }
      default: return '';
    }
  };
})
)JS";

}  // namespace dpd::script
