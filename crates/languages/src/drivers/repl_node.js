// Runnel's session driver for Node.js (crates/languages/src/repl.rs describes the protocol).
// Cells arrive as JSON lines on fd 3 and run in this realm with `vm.runInThisContext`, so
// top-level `let`, `const`, functions and `require`d modules persist from cell to cell.
'use strict';
(function runnelSession() {
  const fs = require('fs');
  const vm = require('vm');
  const util = require('util');
  try { fs.unlinkSync(__filename); } catch (_) { /* already gone */ }
  globalThis.require = require;
  globalThis.module = module;
  globalThis.exports = module.exports;
  const send = (message) => fs.writeSync(4, JSON.stringify(message) + '\n');
  // process.stdout and process.stderr write straight to their fds, synchronously. Through
  // node's stream code, a SIGINT that stops a cell inside a write (breakOnSigint ends the script
  // wherever it is) can leave the stream waiting for that write forever, so that nothing the
  // session prints later comes out; and a write queued on a full pipe would come after the
  // cell's marker.
  const pause = new Int32Array(new SharedArrayBuffer(4));
  const writeAll = (fd, bytes) => {
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += fs.writeSync(fd, bytes, offset, bytes.length - offset);
      } catch (error) {
        if (!error || error.code !== 'EAGAIN') throw error;
        Atomics.wait(pause, 0, 0, 1); // a full pipe: wait for the reader
      }
    }
  };
  for (const [stream, fd] of [[process.stdout, 1], [process.stderr, 2]]) {
    stream.write = function write(chunk, encoding, callback) {
      const done = typeof encoding === 'function' ? encoding : callback;
      const bytes = typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8')
        : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      writeAll(fd, bytes);
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
  // A SIGINT while idle must not end the session; while a cell runs, vm's breakOnSigint
  // turns it into an exception, reported as KeyboardInterrupt.
  process.on('SIGINT', () => {});
  process.on('uncaughtException', (error) => {
    process.stderr.write(`Uncaught ${util.inspect(error)}\n`);
  });
  process.on('unhandledRejection', (error) => {
    process.stderr.write(`Uncaught (in promise) ${util.inspect(error)}\n`);
  });
  const queue = [];
  let busy = false;
  let buffered = '';

  async function runCell(message) {
    let status = 'ok';
    let ename = null;
    let evalue = null;
    try {
      const value = vm.runInThisContext(message.code || '', { filename: '<cell>', breakOnSigint: true });
      if (value && typeof value.then === 'function') await value;
    } catch (error) {
      status = 'error';
      ename = error && error.code === 'ERR_SCRIPT_EXECUTION_INTERRUPTED'
        ? 'KeyboardInterrupt'
        : (error && error.name) || typeof error;
      evalue = error && error.message !== undefined ? String(error.message) : String(error);
      const text = error && error.stack ? error.stack : String(error);
      process.stderr.write(`Uncaught ${text}\n`);
    }
    const marker = message.marker || '';
    fs.writeSync(1, marker);
    fs.writeSync(2, marker);
    send({ op: 'done', id: message.id, status, ename, evalue });
  }

  async function drain() {
    if (busy) return;
    busy = true;
    while (queue.length > 0) {
      const message = queue.shift();
      if (message.op === 'execute') await runCell(message);
    }
    busy = false;
  }

  const control = fs.createReadStream(null, { fd: 3, encoding: 'utf8' });
  control.on('data', (chunk) => {
    buffered += chunk;
    let newline;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) queue.push(JSON.parse(line));
    }
    drain();
  });
  control.on('end', () => process.exit(0));
  send({ op: 'ready' });
})();
