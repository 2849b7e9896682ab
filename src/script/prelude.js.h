#pragma once
// The JavaScript half of the event API (spec §6.3–6.6), compiled once per isolate. It builds the per-call helpers
// (cancel, error, hide, protect, changed, emit, console …), calls the event function with `this` = a fresh object,
// and reports what happened as one JSON text. Keeping these helpers in JavaScript keeps the C++/V8 boundary to two
// host functions (log, emit) and one JSON round trip per call.

namespace dpd::script {

inline constexpr const char* kPrelude = R"JS(
(function (fn, selfText, valuesText, names, flags, host, each) {
  'use strict';
  const values = JSON.parse(valuesText);
  if (values.ctx && values.query) values.ctx.query = values.query;  // one live query object, as in Deployd
  const text = (v) => (typeof v === 'string' ? v : (v instanceof Error ? String(v) : JSON.stringify(v)));
  const log = function () { host.log(Array.prototype.map.call(arguments, text).join(' ')); };
  const konsole = Object.freeze({ log: log, info: log, warn: log, error: log, debug: log });
  const emit = function () { host.emit(JSON.stringify(Array.prototype.slice.call(arguments))); };
  const isMe = function (id) { return !!(values.me && values.me.id === id); };
  const CANCEL = {};

  // Runs the event once with `this` = self and fresh helpers; returns what happened.
  function runOne(self) {
    const state = { errors: {}, hasErrors: false, hidden: [], protected: [] };
    let cancelled = null;
    const domain = { emit: emit, console: konsole, isMe: isMe };
    domain.cancel = function (msg, status) {
      let message = msg;
      let st = status;
      if (msg instanceof Error) {
        message = msg.message;
        if (st === undefined && msg.statusCode !== undefined) st = msg.statusCode;
      } else if (msg !== null && typeof msg === 'object') {
        message = msg.message;
        if (st === undefined) st = msg.statusCode !== undefined ? msg.statusCode : msg.status;
      }
      cancelled = { message: message === undefined ? '' : String(message), status: st === undefined ? null : Number(st) };
      throw CANCEL;
    };
    domain.cancelIf = function (c, m, s) { if (c) domain.cancel(m, s); };
    domain.cancelUnless = function (c, m, s) { if (!c) domain.cancel(m, s); };
    if (flags.errors) {
      domain.error = function (k, m) { state.errors[k] = m || true; state.hasErrors = true; };
      domain.errorIf = function (c, k, m) { if (c) domain.error(k, m); };
      domain.errorUnless = function (c, k, m) { if (!c) domain.error(k, m); };
      domain.hasErrors = function () { return state.hasErrors; };
    }
    if (flags.hide) {
      domain.hide = function (p, on) {
        if (on === false) return domain.unhide(p);
        if (Object.prototype.hasOwnProperty.call(self, p) && state.hidden.indexOf(p) < 0) state.hidden.push(p);
      };
      domain.unhide = function (p) { const i = state.hidden.indexOf(p); if (i >= 0) state.hidden.splice(i, 1); };
    }
    if (flags.protect) {
      const previous = values.previous || {};
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      domain.changed = function (p) {
        return Object.prototype.hasOwnProperty.call(self, p) && !same(self[p], previous[p]);
      };
      domain.protect = function (p, on) {
        if (on === false) return domain.unprotect(p);
        if (!Object.prototype.hasOwnProperty.call(self, p) || state.protected.indexOf(p) >= 0) return;
        state.protected.push(p);
        Object.defineProperty(self, p, {
          enumerable: true, configurable: true,
          get: function () { return previous[p]; },
          set: function () { throw new TypeError("Cannot modify protected property '" + p + "'"); },
        });
      };
      domain.unprotect = function (p) {
        const i = state.protected.indexOf(p);
        if (i < 0) return;
        state.protected.splice(i, 1);
        Object.defineProperty(self, p, { value: previous[p], writable: true, enumerable: true, configurable: true });
      };
    }
    const data = each ? JSON.parse(JSON.stringify(self)) : values.data;  // `data` is a copy of `this`
    const args = names.map(function (n) {
      if (Object.prototype.hasOwnProperty.call(domain, n)) return domain[n];
      return n === 'data' ? data : values[n];
    });
    const result = { kind: 'ok', message: '', status: null, state: state };
    try {
      fn.apply(self, args);
    } catch (e) {
      if (e === CANCEL) {
        result.kind = 'cancel';
        result.message = cancelled.message;
        result.status = cancelled.status;
      } else if (e instanceof Error) {
        result.kind = 'error';
        result.message = e.message;
        result.status = e.statusCode !== undefined ? Number(e.statusCode) : null;
      } else {
        // A thrown non-Error value acts like cancel(value) (spec §5.2, §6.6).
        result.kind = 'cancel';
        result.message = e === undefined ? '' : text(e);
      }
    }
    return result;
  }

  if (!each) {
    const self = JSON.parse(selfText);
    const r = runOne(self);
    return JSON.stringify({ kind: r.kind, message: r.message, status: r.status, errors: r.state.errors,
                            hidden: r.state.hidden, protected: r.state.protected, self: self, query: values.query });
  }
  // Each-mode (Get over a list): selfText is an array of documents. Answers "L" + the surviving documents (hidden
  // properties removed) as JSON, or "F" + the failure. A cancelled document leaves the list, unless `flags.single`
  // (a by-id GET), where it fails the request like an exception does.
  const docs = JSON.parse(selfText);
  const out = [];
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i];
    const r = runOne(doc);
    if (r.kind === 'error' || (r.kind === 'cancel' && flags.single)) {
      return 'F' + JSON.stringify({ kind: r.kind, message: r.message, status: r.status });
    }
    if (r.kind === 'cancel') continue;
    for (let h = 0; h < r.state.hidden.length; h++) delete doc[r.state.hidden[h]];
    out.push(doc);
  }
  return 'L' + JSON.stringify(out);
})
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
