// Runnel's warm-start driver (crates/languages/src/warm.rs). Node is already up; wait for one
// launch request on fd 3, then run the program as the main module, exactly as
// `node main.js args...` would. Only built-in modules that Node's bootstrap has already loaded
// are used, and this module is removed from require.cache before the program starts.
'use strict';
(function runnelWarmStart() {
  const fs = require('fs');
  const path = require('path');
  const Module = require('module');

  const chunks = [];
  const buffer = Buffer.allocUnsafe(65536);
  for (;;) {
    let count;
    try {
      count = fs.readSync(3, buffer, 0, buffer.length, null);
    } catch (error) {
      if (error.code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      throw error;
    }
    if (count === 0) break;
    chunks.push(Buffer.from(buffer.subarray(0, count)));
    if (buffer.subarray(0, count).includes(10)) break;
  }
  fs.closeSync(3);
  try {
    fs.unlinkSync(__filename);
  } catch (_) {
    // Already gone: nothing to hide.
  }
  delete require.cache[__filename];
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') process.exit(0);
  const request = JSON.parse(text);
  const main = path.resolve(request.main);
  process.argv = [process.argv[0], main, ...(request.argv || [])];
  Module.runMain(main);
})();
