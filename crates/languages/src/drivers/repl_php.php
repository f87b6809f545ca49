<?php
// Runnel's session driver for PHP (crates/languages/src/repl.rs describes the protocol).
// Cells are eval()'d in the global scope, so variables, functions and classes persist.
// SIGINT ends the running cell as KeyboardInterrupt; between cells it is ignored.

namespace Runnel {
    // Thrown into a cell by SIGINT. An Error, not an Exception, so a cell's
    // `catch (Exception $e)` does not swallow it (as Python's KeyboardInterrupt is no Exception).
    final class KeyboardInterrupt extends \Error
    {
    }
}

namespace {
    @unlink(__FILE__);
    // With async signals the engine only marks a SIGINT as pending and the VM runs the handler
    // at its next interrupt check (a function call or a loop's back edge), so a busy
    // `while (true) {}` is interrupted without any per-statement tick in normal cells. A
    // blocking call (sleep, a read) returns early on the signal and the handler runs after it.
    // Only one SIGINT per cell is thrown, and only while the cell's code runs: the cell arms
    // the handler, and the handler disarms itself before throwing, so the rest of a burst (and
    // any SIGINT while the driver reports or waits for the next execute) finds it disarmed and
    // is dropped. Arming and disarming (in `finally`, which a throw may also interrupt: the new
    // throw replaces the cell's error) both happen inside the outer `try`, so a throw can never
    // escape to kill the driver.
    $__runnel_armed = false;
    pcntl_async_signals(true);
    pcntl_signal(SIGINT, function () {
        if ($GLOBALS['__runnel_armed']) {
            $GLOBALS['__runnel_armed'] = false;
            throw new Runnel\KeyboardInterrupt('KeyboardInterrupt');
        }
    });
    $__runnel_in = fopen('php://fd/3', 'rb');
    $__runnel_out = fopen('php://fd/4', 'wb');
    fwrite($__runnel_out, json_encode(['op' => 'ready']) . "\n");
    while (($__runnel_line = fgets($__runnel_in)) !== false) {
        $__runnel_message = json_decode($__runnel_line, true);
        if (!is_array($__runnel_message) || ($__runnel_message['op'] ?? '') !== 'execute') {
            continue;
        }
        $__runnel_status = ['ok', null, null];
        $__runnel_code = (string) ($__runnel_message['code'] ?? '');
        $__runnel_code = preg_replace('/^\s*<\?php\b/', '', $__runnel_code);
        try {
            try {
                $__runnel_armed = true;
                eval($__runnel_code);
            } finally {
                $__runnel_armed = false;
            }
        } catch (Runnel\KeyboardInterrupt $__runnel_error) {
            $__runnel_status = ['error', 'KeyboardInterrupt', ''];
            fwrite(STDERR, "KeyboardInterrupt\n");
        } catch (Throwable $__runnel_error) {
            $__runnel_status = ['error', get_class($__runnel_error), $__runnel_error->getMessage()];
            fwrite(STDERR, 'PHP ' . get_class($__runnel_error) . ': ' . $__runnel_error->getMessage()
                . ' in ' . $__runnel_error->getFile() . ':' . $__runnel_error->getLine() . "\n");
        }
        flush();
        fwrite(STDOUT, (string) ($__runnel_message['marker'] ?? ''));
        fwrite(STDERR, (string) ($__runnel_message['marker'] ?? ''));
        fwrite($__runnel_out, json_encode([
            'op' => 'done',
            'id' => $__runnel_message['id'] ?? null,
            'status' => $__runnel_status[0],
            'ename' => $__runnel_status[1],
            'evalue' => $__runnel_status[2],
        ]) . "\n");
    }
}
