<?php
// Runnel's session driver for PHP (crates/languages/src/repl.rs describes the protocol).
// Cells are eval()'d in the global scope, so variables, functions and classes persist.
@unlink(__FILE__);
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
        eval($__runnel_code);
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
