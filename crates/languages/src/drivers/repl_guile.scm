;;; Runnel's session driver for Scheme on Guile (crates/languages/src/repl.rs describes the
;;; protocol). Cells are read form by form and evaluated in one fresh user module (the driver's
;;; own bindings are not in it): definitions persist from cell to cell. An error ends its cell
;;; only, reported on stderr as Guile's REPL would. SIGINT ends the running cell as
;;; KeyboardInterrupt; between cells it is ignored. The host sends the code base64-encoded
;;; (`code_b64`): Guile has no JSON of its own.
(use-modules (ice-9 rdelim) (ice-9 regex) (rnrs bytevectors))

(let ()
  (define alphabet "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  (define (from-base64 text)
    (let loop ((chars (string->list text)) (bits 0) (count 0) (out '()))
      (if (null? chars)
          (utf8->string (u8-list->bytevector (reverse out)))
          (let ((value (string-index alphabet (car chars))))
            (if (not value)
                (loop (cdr chars) bits count out)
                (let ((bits (logior (ash bits 6) value)) (count (+ count 6)))
                  (if (>= count 8)
                      (let ((count (- count 8)))
                        (loop (cdr chars) (logand bits (- (ash 1 count) 1)) count
                              (cons (logand (ash bits (- count)) 255) out)))
                      (loop (cdr chars) bits count out))))))))
  (define (field line name)
    (let ((found (string-match (string-append "\"" name "\":[ ]*\"([^\"]*)\"") line)))
      (if found (match:substring found 1) "")))
  (define (json-string text)
    (call-with-output-string
      (lambda (port)
        (write-char #\" port)
        (string-for-each
         (lambda (c)
           (cond ((char=? c #\") (display "\\\"" port))
                 ((char=? c #\\) (display "\\\\" port))
                 ((char=? c #\newline) (display "\\n" port))
                 ((< (char->integer c) 32) (display " " port))
                 (else (write-char c port))))
         text)
        (write-char #\" port))))
  (define cell-module (make-fresh-user-module))
  ;; Guile runs a signal handler as an async: the C handler only queues it, and the VM runs it
  ;; at its next safe point (a call or a loop's back edge; a blocking `sleep` or read wakes up
  ;; for it), so a busy loop is interrupted without any tick in normal cells. The handler
  ;; throws into the cell only while `armed`, and disarms itself first: one throw per cell;
  ;; the rest of a burst, and any SIGINT while the driver reports or waits, is dropped.
  (define armed #f)
  (sigaction SIGINT
    (lambda (signal)
      (when armed
        (set! armed #f)
        (throw 'KeyboardInterrupt))))
  (define (run code)
    ;; Returns #f when the cell succeeded, else (ename . evalue). Asyncs (so the SIGINT
    ;; handler) run only inside call-with-unblocked-asyncs, around the cell's own code: arming
    ;; and disarming happen with them blocked, so a throw can never land outside this catch.
    (call-with-blocked-asyncs
     (lambda ()
       (catch #t
         (lambda ()
           (set! armed #t)
           (call-with-unblocked-asyncs
            (lambda ()
              (let ((port (open-input-string code)))
                (let loop ()
                  (let ((form (read port)))
                    (unless (eof-object? form)
                      (eval form cell-module)
                      (loop)))))))
           ;; A SIGINT that woke a blocking call (sleep, a read) at the cell's very end may
           ;; still be queued: unblocking runs it here, still armed, so the cell reports it.
           (call-with-unblocked-asyncs (lambda () #t))
           (set! armed #f)
           #f)
         (lambda (key . args)
           (set! armed #f)
           (when (eq? key 'quit) (apply throw key args))
           (let ((message (if (eq? key 'KeyboardInterrupt)
                              "KeyboardInterrupt\n"
                              (call-with-output-string
                                (lambda (port) (print-exception port #f key args))))))
             (display message (current-error-port))
             (cons (symbol->string key) (string-trim-right message))))))))

  (false-if-exception (delete-file (car (command-line))))
  (setvbuf (current-output-port) 'line)
  (setvbuf (current-error-port) 'none)
  (let ((control-in (open-input-file "/proc/self/fd/3"))
        (control-out (open-output-file "/proc/self/fd/4")))
    (set-port-encoding! control-in "UTF-8")
    (set-port-encoding! control-out "UTF-8")
    (define (send text)
      (display text control-out)
      (newline control-out)
      (force-output control-out))
    (send "{\"op\":\"ready\"}")
    (let loop ()
      (let ((line (read-line control-in)))
        (unless (eof-object? line)
          (when (string=? (field line "op") "execute")
            (let* ((marker (regexp-substitute/global #f "\\\\u001e" (field line "marker")
                                                     'pre (string (integer->char 30)) 'post))
                   (failure (run (from-base64 (field line "code_b64")))))
              (force-output (current-output-port))
              (display marker (current-output-port))
              (force-output (current-output-port))
              (display marker (current-error-port))
              (force-output (current-error-port))
              (send (string-append
                     "{\"op\":\"done\",\"id\":" (json-string (field line "id"))
                     (if failure
                         (string-append ",\"status\":\"error\",\"ename\":" (json-string (car failure))
                                        ",\"evalue\":" (json-string (cdr failure)))
                         ",\"status\":\"ok\"")
                     "}"))))
          (loop))))))
