;;;; Runnel's session driver for Common Lisp on SBCL (crates/languages/src/repl.rs describes the
;;;; protocol). Cells are read form by form and evaluated in CL-USER (or the package a cell
;;;; switched to with IN-PACKAGE): variables, functions and packages persist from cell to cell.
;;;; Each form runs inside HANDLER-CASE, so an error ends its cell only and never reaches the
;;;; debugger. SIGINT ends the running cell as KeyboardInterrupt and is ignored at any other
;;;; time (see INTERRUPT-CELL). The host sends the code base64-encoded (`code_b64`): SBCL has no
;;;; JSON of its own.
(defpackage :runnel-driver (:use :common-lisp))
(in-package :runnel-driver)

(defparameter +alphabet+ "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")

(defun from-base64 (text)
  (let ((bytes (make-array 0 :element-type '(unsigned-byte 8) :adjustable t :fill-pointer 0))
        (bits 0)
        (count 0))
    (loop for c across text
          for value = (position c +alphabet+)
          when value
            do (setf bits (logior (ash bits 6) value)
                     count (+ count 6))
               (when (>= count 8)
                 (decf count 8)
                 (vector-push-extend (ldb (byte 8 count) bits) bytes)
                 (setf bits (ldb (byte count 0) bits))))
    (sb-ext:octets-to-string (coerce bytes '(simple-array (unsigned-byte 8) (*)))
                             :external-format :utf-8)))

(defun field (line name)
  (let* ((key (format nil "\"~A\":" name))
         (start (search key line)))
    (if (null start)
        ""
        (let* ((open (position #\" line :start (+ start (length key))))
               (close (and open (position #\" line :start (1+ open)))))
          (if close (subseq line (1+ open) close) "")))))

(defun json-string (text)
  (with-output-to-string (out)
    (write-char #\" out)
    (loop for c across text
          do (cond ((char= c #\") (write-string "\\\"" out))
                   ((char= c #\\) (write-string "\\\\" out))
                   ((char= c #\Newline) (write-string "\\n" out))
                   ((< (char-code c) 32) (write-char #\Space out))
                   (t (write-char c out))))
    (write-char #\" out)))

(defun replace-all (text old new)
  (with-output-to-string (out)
    (loop with start = 0
          for found = (search old text :start2 start)
          do (write-string text out :start start :end (or found (length text)))
             (if found
                 (progn (write-string new out) (setf start (+ found (length old))))
                 (return)))))

;;; SBCL's own SIGINT handler enters the debugger (which --script disables, so SBCL exits) when
;;; nothing handles the INTERACTIVE-INTERRUPT it signals: every SIGINT of a burst that lands
;;; after the first has ended the cell would end the driver. SIGINT is therefore only acted on
;;; while *IN-CELL* is true, which RUN binds inside its handlers and its catch: leaving the cell,
;;; by any exit, unbinds it before they go.
(defvar *in-cell* nil)

(defun interrupt-cell ()
  "End the running cell, if any, as SBCL's own SIGINT handler would (without the debugger)."
  (when *in-cell*
    ;; Signalled first, so that the cell's own handlers can take it, as they could in SBCL.
    (signal (make-condition 'sb-sys:interactive-interrupt))
    ;; Nothing took it: RUN's HANDLER-CASE does unless a SIGINT lands while that is invoking
    ;; a handler (its handlers are then disabled), so unwind to RUN's catch instead.
    (throw 'interrupted (cons "KeyboardInterrupt" ""))))

;;; The handler runs in whichever thread got the signal, with interrupts disabled; like SBCL's
;;; it hands the interrupt to the main thread, which runs it at its next safe point.
(sb-sys:enable-interrupt sb-unix:sigint
                         (let ((main sb-thread:*current-thread*))
                           (lambda (signal info context)
                             (declare (ignore signal info context))
                             (sb-thread:interrupt-thread main #'interrupt-cell))))

(defvar *cell-package* (find-package :common-lisp-user))

(defun run (code)
  "Evaluate CODE's forms; NIL when the cell succeeded, else (ENAME . EVALUE)."
  (let ((*package* *cell-package*))
    (unwind-protect
         (let ((failure
                 (catch 'interrupted
                   (handler-case
                       (let ((*in-cell* t))
                         (with-input-from-string (in code)
                           (loop for form = (read in nil in)
                                 until (eq form in)
                                 do (eval form)))
                         nil)
                     (sb-sys:interactive-interrupt ()
                       (cons "KeyboardInterrupt" ""))
                     (serious-condition (condition)
                       (let ((message (handler-case (princ-to-string condition)
                                        (error () "(unprintable condition)"))))
                         (format *error-output* "~&~A: ~A~%" (type-of condition) message)
                         (cons (princ-to-string (type-of condition)) message)))))))
           (when (equal (car failure) "KeyboardInterrupt")
             (format *error-output* "~&KeyboardInterrupt~%"))
           failure)
      (setf *cell-package* *package*))))

(defun serve ()
  (ignore-errors (delete-file *load-truename*))
  (let ((control-in (sb-sys:make-fd-stream 3 :input t :external-format :utf-8
                                             :buffering :full))
        (control-out (sb-sys:make-fd-stream 4 :output t :external-format :utf-8
                                              :buffering :full)))
    (flet ((send (text)
             (write-line text control-out)
             (finish-output control-out)))
      (send "{\"op\":\"ready\"}")
      (loop for line = (read-line control-in nil nil)
            while line
            when (string= (field line "op") "execute")
              do (let ((marker (replace-all (field line "marker") "\\u001e"
                                            (string (code-char 30))))
                       (failure (run (from-base64 (field line "code_b64")))))
                   (finish-output *standard-output*)
                   (write-string marker *standard-output*)
                   (finish-output *standard-output*)
                   (write-string marker *error-output*)
                   (finish-output *error-output*)
                   (send (format nil "{\"op\":\"done\",\"id\":~A,~A}"
                                 (json-string (field line "id"))
                                 (if failure
                                     (format nil "\"status\":\"error\",\"ename\":~A,\"evalue\":~A"
                                             (json-string (car failure))
                                             (json-string (cdr failure)))
                                     "\"status\":\"ok\""))))))))

(serve)
