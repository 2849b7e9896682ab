#pragma once
// The JavaScript half of the event API (spec §6.3–6.8, §10), compiled once per isolate. It builds the per-call
// helpers (cancel, error, hide, protect, changed, emit, console, the `dpd` client …), calls the event function with
// `this` = a fresh object, tracks the callbacks and promises of `dpd` calls (spec §6.8) and reports what happened
// as one text — returned at once when nothing is outstanding, otherwise handed to host.done(callId, report) when the
// last tracked operation settles. A single run's report is "=" (it only kept `this`, unchanged), "O" + `this` as
// JSON (it only changed `this`), or the whole report as JSON. The C++/V8 boundary is four host functions: log,
// emit, request, done.

namespace dpd::script {

inline constexpr const char* kPrelude = R"JS(
(function () {
  'use strict';
  // --- built once per isolate: pure helpers ---
  const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const text = (v) => (typeof v === 'string' ? v : (v instanceof Error ? String(v) : JSON.stringify(v)));
  const CANCEL = {};
  const CLIENT = Symbol('dpd client');
  const OK = Object.freeze({ kind: 'ok', message: '', status: null });
  const HIDDEN = Object.freeze({ enumerable: false });  // a partial descriptor: only enumerability changes

  function cancelResult(msg, status) {
    let message = msg;
    let st = status;
    if (msg instanceof Error) {
      message = msg.message;
      if (st === undefined && msg.statusCode !== undefined) st = msg.statusCode;
    } else if (msg !== null && typeof msg === 'object') {
      message = msg.message;
      if (st === undefined) st = msg.statusCode !== undefined ? msg.statusCode : msg.status;
    }
    return { kind: 'cancel', message: message === undefined ? '' : text(message),
             status: st === undefined || st === null ? null : Number(st) };
  }
  function errorResult(e) {
    if (e instanceof Error) {
      return { kind: 'error', message: e.message, status: e.statusCode !== undefined ? Number(e.statusCode) : null };
    }
    const r = cancelResult(e);
    r.kind = 'error';
    return r;
  }
  // dpd client arguments (spec §10): strings/numbers are path segments, objects query/body, a function the callback.
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
  // get([path], [path], [query], [fn]) — also del.
  function readArgs(args) {
    let i = 0;
    const segs = [];
    while (i < args.length && segs.length < 2 && isPath(args[i])) segs.push(args[i++]);
    let query;
    if (i < args.length && args[i] !== undefined && typeof args[i] !== 'function') query = args[i++];
    const fn = typeof args[i] === 'function' ? args[i] : undefined;
    return { rest: join.apply(null, segs), query: query, fn: fn };
  }
  // post([path], [query], body, [fn]) — also put: two objects = query then body.
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
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  // --- one event call: `call` holds its state, `run` that of one body run (one document in each-mode). Everything
  // below is made once per isolate and takes them as arguments, so a run allocates its state and the helpers its
  // script names, nothing else.

  const live = (run) => !run.call.finished && !run.over;

  function consoleOf(call) {
    if (call.konsole === undefined) {
      const log = function () { call.host.log(call.id, Array.prototype.map.call(arguments, text).join(' ')); };
      call.konsole = Object.freeze({ log: log, info: log, warn: log, error: log, debug: log });
    }
    return call.konsole;
  }
  // emit(event[, data]) / emit(room, event, data) / emit(usersClient, query, event, data) (spec §6.7). A users
  // client travels as {"$client": path}; JSON drops hidden (non-enumerable) properties.
  function emitOf(call) {
    if (call.emit === undefined) {
      call.emit = function () {
        const args = Array.prototype.slice.call(arguments);
        if (args.length === 4 && args[0] && args[0][CLIENT]) args[0] = { $client: args[0][CLIENT] };
        call.host.emit(call.id, JSON.stringify(args));
      };
    }
    return call.emit;
  }
  // `session` (spec §6.3, §8.5): its data and room functions. Changes are reported and persisted by the host.
  function sessionOf(call) {
    if (call.session !== undefined) return call.session;
    const values = call.values;
    const v = values.session || {};
    const data = v.data || {};
    const rooms = function () {
      if (!Array.isArray(data._rooms)) data._rooms = [];
      return data._rooms;
    };
    const emit = emitOf(call);
    const s = {
      data: data, sid: data.id, user: values.me, isRoot: !!v.isRoot, isAnonymous: !data.id,
      joinRoom: function (r) { const rs = rooms(); if (rs.indexOf(String(r)) < 0) rs.push(String(r)); call.sessionSave = true; },
      joinRooms: function (list) { if (Array.isArray(list)) list.forEach(function (r) { s.joinRoom(r); }); },
      leaveRoom: function (r) {
        const rs = rooms();
        const i = rs.indexOf(String(r));
        if (i >= 0) rs.splice(i, 1);
        call.sessionSave = true;
      },
      leaveRooms: function (list) { if (Array.isArray(list)) list.forEach(function (r) { s.leaveRoom(r); }); },
      leaveAllRooms: function () { data._rooms = []; call.sessionSave = true; },
      emitToAll: function (ev, d) { emit(ev, d); },
      emitToRoom: function (room, ev, d) { emit(room, ev, d); },
      emitToUsers: function (client, query, ev, d) { emit(client, query, ev, d); },
      set: function (obj) { if (obj && typeof obj === 'object') Object.assign(data, obj); return s; },
      save: function () { call.sessionSave = true; return s; },
      remove: function () { call.sessionRemove = true; return s; },
    };
    call.session = s;
    return s;
  }

  function effective(run) {
    if (run.result.kind === 'ok' && run.asyncError) return errorResult(run.asyncError.value);
    return run.result;
  }
  // The report: "=", "O"+this or one object for a single run, "L"+list or "F"+failure in each-mode.
  function buildReport(call) {
    if (!call.each) {
      const run = call.runs[0];
      const r = effective(run);
      const sessionChanged = call.sessionSave || call.sessionRemove;
      if (r.kind === 'ok' && !run.hasErrors && run.hidden.length === 0 && run.protected.length === 0 &&
          call.values.query === undefined && !sessionChanged) {
        // The common case: only `this` to report. "=" when it is unchanged (the host keeps its own copy),
        // else "O" and its JSON — no report object to build, serialise and read back.
        const t = JSON.stringify(run.self);
        if (typeof t === 'string') return t === call.selfText ? '=' : 'O' + t;
      }
      let self = run.self;
      if (run.hidden.length > 0) {
        self = Object.assign({}, run.self);
        for (const h of run.hidden) self[h] = run.self[h];  // hidden properties are still written (§6.5)
      }
      return JSON.stringify({ kind: r.kind, message: r.message, status: r.status, errors: run.errors,
                              hidden: run.hidden, protected: run.protected, self: self, query: call.values.query,
                              session: sessionChanged
                                ? { save: call.sessionSave, remove: call.sessionRemove,
                                    data: call.session ? call.session.data : null }
                                : undefined });
    }
    const out = [];
    for (const run of call.runs) {
      const r = effective(run);
      if (r.kind === 'error' || (r.kind === 'cancel' && call.flags.single)) return 'F' + JSON.stringify(r);
      if (r.kind === 'cancel') continue;
      out.push(run.self);  // hidden properties are non-enumerable: JSON leaves them out
    }
    return 'L' + JSON.stringify(out);
  }
  function finish(call) {
    if (call.finished) return;
    call.finished = true;
    try {
      call.report = buildReport(call);
    } catch (e) {  // e.g. a circular `this`: the call fails instead of never reporting
      const r = errorResult(e);
      call.report = call.each ? 'F' + JSON.stringify(r)
                              : JSON.stringify({ kind: 'error', message: r.message, status: r.status, errors: {},
                                                 hidden: [], protected: [], self: {}, query: null });
    }
    if (call.asyncMode) call.host.done(call.id, call.report);
  }
  function check(call) { if (!call.finished && call.returned && call.pending === 0) finish(call); }
  // A run stops (cancel or error). An error — or any stop outside a list — ends the whole call at once; pending
  // callbacks are then ignored (spec §6.8).
  function endRun(run, result) {
    if (run.over) return;
    const call = run.call;
    run.over = true;
    run.result = result;
    call.pending -= run.pending;  // its outstanding callbacks no longer hold the event open
    run.pending = 0;
    if (!call.each || result.kind === 'error' || call.flags.single) finish(call); else check(call);
  }

  // --- tracking (spec §6.8) ---
  // Runs `after(value, rejected)` when p settles, and holds the event open until then.
  function track(run, p, after) {
    const call = run.call;
    call.pending++;
    run.pending++;
    const settle = function (v, rejected) {
      try {
        if (after && live(run)) after(v, rejected);
      } finally {
        if (!run.over) { run.pending--; call.pending--; }
        check(call);
      }
    };
    p.then(function (v) { settle(v, false); }, function (e) { settle(e, true); });
    return wrap(run, p);
  }
  // A then/catch handler: `this` = the event object; a throw records the error, a later rejection handler that
  // receives it clears it again; cancel() stops the run.
  function handler(run, f, rejection) {
    if (typeof f !== 'function') return undefined;
    return function (v) {
      if (!live(run)) return undefined;
      if (rejection && run.asyncError && run.asyncError.value === v) run.asyncError = null;
      try {
        return f.call(run.self, v);
      } catch (e) {
        if (e === CANCEL) { endRun(run, run.cancelled); return undefined; }
        run.asyncError = { value: e };
        throw e;
      }
    };
  }
  function wrap(run, p) {
    const w = {
      then: function (a, b) { return track(run, p.then(handler(run, a, false), handler(run, b, true))); },
      catch: function (b) { return track(run, p.then(undefined, handler(run, b, true))); },
      finally: function (f) {
        return track(run, p.finally(typeof f === 'function' ? function () { if (live(run)) return f.call(run.self); } : f));
      },
    };
    w.fail = w.catch;
    return w;
  }
  // A node-style callback fn(result, error) with `this` = the event object; a throw ends the run.
  function callbackAfter(run, f) {
    if (typeof f !== 'function') return null;
    return function (v, rejected) {
      try {
        if (rejected) f.call(run.self, null, v); else f.call(run.self, v);
      } catch (e) {
        endRun(run, e === CANCEL ? run.cancelled : errorResult(e));
      }
    };
  }
  function request(run, method, base, rest, query, body, hasBody, f) {
    if (!live(run)) return wrap(run, new Promise(function () {}));
    const path = base + (rest ? '/' + rest : '');
    const p = run.call.host.request(run.call.id, method, path,
                                    query === undefined || query === null ? undefined : JSON.stringify(query),
                                    hasBody && body !== undefined ? JSON.stringify(body) : undefined);
    return track(run, p, callbackAfter(run, f));
  }
  function clientOf(run, entry) {
    const c = {};
    c.get = function () { const a = readArgs(arguments); return request(run, 'GET', entry.path, a.rest, a.query, undefined, false, a.fn); };
    c.del = function () { const a = readArgs(arguments); return request(run, 'DELETE', entry.path, a.rest, a.query, undefined, false, a.fn); };
    c.post = function () { const a = writeArgs(arguments); return request(run, 'POST', entry.path, a.rest, a.query, a.body, true, a.fn); };
    c.put = function () { const a = writeArgs(arguments); return request(run, 'PUT', entry.path, a.rest, a.query, a.body, true, a.fn); };
    // exec(func, [path], [body], [fn]): POST /<resource>/<func>/<path>
    c.exec = function (func) {
      const a = writeArgs(Array.prototype.slice.call(arguments, 1));
      return request(run, 'POST', entry.path, join(func, a.rest), a.query, a.body, true, a.fn);
    };
    // aggregate(pipeline, fn): GET /<col>/aggregate (docs/aggregate.md)
    if (entry.collection) {
      c.aggregate = function (pipeline, f) {
        return request(run, 'GET', entry.path, 'aggregate', { pipeline: pipeline }, undefined, false, f);
      };
    }
    if (entry.users) {
      c.me = function (f) { return request(run, 'GET', entry.path, 'me', undefined, undefined, false, f); };
      c.login = function (credentials, f) { return request(run, 'POST', entry.path, 'login', undefined, credentials, true, f); };
      c.logout = function (f) { return request(run, 'POST', entry.path, 'logout', undefined, undefined, false, f); };
    }
    Object.defineProperty(c, CLIENT, { value: entry.path });
    return c;
  }

  // --- the event helpers (spec §6.3–6.5), made for a run only when its script names them ---
  function cancelOf(run) {
    return function (msg, status) {
      run.cancelled = cancelResult(msg, status);
      throw CANCEL;
    };
  }
  function errorOf(run) {
    return function (k, m) { run.errors[k] = m || true; run.hasErrors = true; };
  }
  function unhideOf(run) {
    return function (p) {
      const i = run.hidden.indexOf(p);
      if (i < 0) return;
      run.hidden.splice(i, 1);
      const d = Object.getOwnPropertyDescriptor(run.self, p);
      if (d) { d.enumerable = true; Object.defineProperty(run.self, p, d); }
    };
  }
  function hideOf(run) {
    const unhide = unhideOf(run);
    return function (p, on) {
      if (on === false) return unhide(p);
      const self = run.self;
      if (!own(self, p) || run.hidden.indexOf(p) >= 0) return;
      if (!Reflect.defineProperty(self, p, HIDDEN)) return;  // not configurable: left as it is
      run.hidden.push(p);
    };
  }
  const previousOf = (run) => run.call.values.previous || {};
  function unprotectOf(run) {
    return function (p) {
      const i = run.protected.indexOf(p);
      if (i < 0) return;
      run.protected.splice(i, 1);
      Object.defineProperty(run.self, p, { value: run.kept[p], writable: true, enumerable: true, configurable: true });
    };
  }
  function protectOf(run) {
    const unprotect = unprotectOf(run);
    const previous = previousOf(run);
    return function (p, on) {
      if (on === false) return unprotect(p);
      const self = run.self;
      if (!own(self, p) || run.protected.indexOf(p) >= 0) return;
      run.kept[p] = self[p];  // the value it had when protect() was called
      run.protected.push(p);
      Object.defineProperty(self, p, {
        enumerable: true, configurable: true,
        get: function () { return previous[p]; },
        set: function () { throw new TypeError("Cannot modify protected property '" + p + "'"); },
      });
    };
  }
  function make(run, n) {
    const call = run.call;
    const values = call.values;
    switch (n) {
      case 'cancel': return cancelOf(run);
      case 'cancelIf': { const cancel = cancelOf(run); return function (c, m, s) { if (c) cancel(m, s); }; }
      case 'cancelUnless': { const cancel = cancelOf(run); return function (c, m, s) { if (!c) cancel(m, s); }; }
      case 'emit': return emitOf(call);
      case 'console': return consoleOf(call);
      case 'dpd': return run.dpd;
      case 'session': return sessionOf(call);
      case 'isMe': return function (id) { return !!(values.me && values.me.id === id); };
      case '$addCallback': return function () { if (live(run)) { call.pending++; run.pending++; } };
      case '$finishCallback':
        return function () { if (run.pending > 0) { run.pending--; call.pending--; check(call); } };
      case 'data': return call.each ? JSON.parse(JSON.stringify(run.self)) : values.data;  // a copy of `this`
    }
    if (call.flags.errors) {
      switch (n) {
        case 'error': return errorOf(run);
        case 'errorIf': { const error = errorOf(run); return function (c, k, m) { if (c) error(k, m); }; }
        case 'errorUnless': { const error = errorOf(run); return function (c, k, m) { if (!c) error(k, m); }; }
        case 'hasErrors': return function () { return run.hasErrors; };
      }
    }
    if (call.flags.hide) {
      if (n === 'unhide') return unhideOf(run);
      if (n === 'hide') return hideOf(run);
    }
    if (call.flags.protect) {
      switch (n) {
        case 'changed': {
          const previous = previousOf(run);
          return function (p) { return own(run.self, p) && !same(run.self[p], previous[p]); };
        }
        case 'unprotect': return unprotectOf(run);
        case 'protect': return protectOf(run);
      }
    }
    return values[n];
  }

  // A packed array of undefined as long as `names`, fresh for each run: stores into it stay on V8's fast path (a
  // `new Array(n)` is holey, and filling it went through the runtime).
  let blankFor = null;
  let blank = [];
  function blankArgs(names) {
    if (names !== blankFor) {
      blank = [];
      for (let i = 0; i < names.length; i++) blank.push(undefined);
      blankFor = names;
    }
    return blank.slice();
  }

  function runOne(call, fn, self) {
    const run = { call: call, self: self, over: false, pending: 0, result: OK, asyncError: null, cancelled: null,
                  errors: {}, hasErrors: false, hidden: [], protected: [], kept: {}, dpd: undefined };
    call.runs.push(run);
    const values = call.values;
    if (call.clients) {
      const dpd = {};
      for (const entry of call.clients) dpd[entry.key] = clientOf(run, entry);
      run.dpd = dpd;
      if (values.ctx) values.ctx.dpd = dpd;
    }
    if (call.flags.protect && values.previous && own(self, 'id')) {
      // An update's id is protected from the start (Deployd): assigning it throws like a protect()ed property.
      const idValue = self.id;
      Object.defineProperty(self, 'id', {
        enumerable: true, configurable: true,
        get: function () { return idValue; },
        set: function () { throw new TypeError("Cannot modify protected property 'id'"); },
      });
    }
    const names = call.names;
    const used = call.used;
    const args = blankArgs(names);
    for (let k = 0; k < used.length; k++) {
      const i = used[k];
      args[i] = make(run, names[i]);
    }
    try {
      fn.apply(self, args);
    } catch (e) {
      if (e === CANCEL) endRun(run, run.cancelled);
      else if (e instanceof Error) endRun(run, errorResult(e));
      else endRun(run, cancelResult(e));  // a thrown non-Error value acts like cancel(value) (spec §5.2, §6.6)
    }
  }

  // `used`: the indexes in `names` of the names the script mentions (only those are built). `valuesText`
  // undefined: no values.
  return function (fn, selfText, valuesText, names, flags, host, each, callId, clients, used) {
    const values = valuesText === undefined ? {} : JSON.parse(valuesText);
    if (values.ctx && values.query) values.ctx.query = values.query;  // one live query object, as in Deployd
    const call = {
      values: values, selfText: selfText, names: names, used: used, flags: flags, host: host, each: each,
      id: callId, clients: clients,
      pending: 0,        // tracked callbacks/promises not settled yet (all runs)
      returned: false,   // every body has returned
      finished: false,
      asyncMode: false,  // the synchronous part is over: the report goes to host.done
      report: undefined, runs: [], konsole: undefined, emit: undefined, session: undefined,
      sessionSave: false, sessionRemove: false,
    };
    if (!each) {
      runOne(call, fn, JSON.parse(selfText));
    } else {
      const docs = JSON.parse(selfText);
      for (let i = 0; i < docs.length && !call.finished; i++) runOne(call, fn, docs[i]);
    }
    call.returned = true;
    check(call);
    if (call.finished) return call.report;
    call.asyncMode = true;
    return undefined;  // pending: host.done(callId, report) follows
  };
})()
)JS";

// Run once per context: freezes the global object and the built-in prototypes, so one call cannot leave globals or
// patched built-ins behind for the next (sloppy-mode assignments to undeclared names then fail silently).
inline constexpr const char* kLockdown = R"JS(
(function () {
  'use strict';
  const ctors = [Object, Function, Array, String, Number, Boolean, Symbol, Error, TypeError, RangeError, SyntaxError,
                 ReferenceError, EvalError, URIError, Date, RegExp, Map, Set, WeakMap, WeakSet, Promise, ArrayBuffer,
                 DataView, BigInt];
  for (const c of ctors) { Object.freeze(c); Object.freeze(c.prototype); }
  Object.freeze(JSON);
  Object.freeze(Math);
  Object.freeze(Reflect);
  Object.freeze(globalThis);
})();
)JS";

}  // namespace dpd::script
