# Runnel's session driver for R (crates/languages/src/repl.rs describes the protocol).
# Each cell is parsed and its expressions evaluated one by one in the global environment, so
# variables, functions and attached packages persist; a visible value is printed as at R's
# prompt. An error ends its cell only (warnings are shown as they happen); SIGINT ends the
# running cell as KeyboardInterrupt and is ignored at any other time. The host sends the code
# base64-encoded (`code_b64`): R has no JSON of its own.
local({
  self <- sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))
  if (length(self) == 1L) unlink(self)
  # R's SIGINT handler only sets a flag; at its next check R signals an `interrupt` condition,
  # and when no handler takes it calls options("interrupt") with a "resume" restart available,
  # else (non-interactive) quits with "Execution halted". A cell's own tryCatch takes the
  # interrupts that come while it runs; this option resumes (ignores) all the others: those
  # that land while the driver reports a cell, writes markers or waits for the next one. Being
  # an option rather than a handler, it is there even while a handler runs.
  options(warn = 1, interrupt = function() tryInvokeRestart("resume"))
  control_in <- file("/proc/self/fd/3", open = "rb", blocking = TRUE)
  control_out <- file("/proc/self/fd/4", open = "wb")

  alphabet <- utf8ToInt("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
  from_base64 <- function(text) {
    sextets <- match(utf8ToInt(text), alphabet) - 1L
    sextets <- sextets[!is.na(sextets)]
    if (length(sextets) == 0L) return("")
    bits <- as.vector(t(outer(sextets, 5:0, function(value, shift) (value %/% 2^shift) %% 2)))
    count <- length(bits) %/% 8L
    bytes <- colSums(matrix(bits[seq_len(count * 8L)], nrow = 8L) * 2^(7:0))
    decoded <- rawToChar(as.raw(bytes))
    Encoding(decoded) <- "UTF-8"
    decoded
  }
  field <- function(line, name) {
    found <- regmatches(line, regexec(paste0('"', name, '":\\s*"([^"]*)"'), line))[[1]]
    if (length(found) == 2L) found[2] else ""
  }
  json_string <- function(value) {
    if (is.null(value)) return("null")
    value <- paste(enc2utf8(as.character(value)), collapse = "\n")
    value <- gsub("\\", "\\\\", value, fixed = TRUE)
    value <- gsub("\"", "\\\"", value, fixed = TRUE)
    value <- gsub("\n", "\\n", value, fixed = TRUE)
    value <- gsub("\t", "\\t", value, fixed = TRUE)
    gsub("[[:cntrl:]]", " ", value)
  }
  send <- function(text) {
    writeLines(text, control_out, useBytes = TRUE)
    flush(control_out)
  }
  report <- function(condition) {
    call <- conditionCall(condition)
    head <- if (is.null(call)) "Error: " else paste0("Error in ", deparse(call)[1], " : ")
    cat(head, conditionMessage(condition), "\n", sep = "", file = stderr())
  }
  run <- function(code) {
    # A SIGINT that came since the last cell is still pending (R acts on it at its next
    # check): Sys.sleep checks, and the interrupt option drops it here, before this cell.
    Sys.sleep(0)
    outcome <- list(status = "ok", ename = NULL, evalue = NULL)
    # One handler around the whole cell, so that an interrupt between two of its expressions
    # ends it too.
    tryCatch({
      expressions <- tryCatch(parse(text = code, keep.source = FALSE), error = function(problem) {
        cat("Error: ", conditionMessage(problem), "\n", sep = "", file = stderr())
        outcome <<- list(status = "error", ename = "SyntaxError",
                         evalue = conditionMessage(problem))
        NULL
      })
      for (expression in expressions) {
        failed <- tryCatch({
          result <- withVisible(eval(expression, envir = globalenv()))
          if (result$visible) print(result$value)
          FALSE
        }, error = function(problem) {
          report(problem)
          outcome <<- list(status = "error", ename = class(problem)[1],
                           evalue = conditionMessage(problem))
          TRUE
        })
        if (failed) break
      }
    }, interrupt = function(signal) {
      cat("KeyboardInterrupt\n", file = stderr())
      outcome <<- list(status = "error", ename = "KeyboardInterrupt", evalue = "")
    })
    outcome
  }

  send('{"op":"ready"}')
  repeat {
    line <- readLines(control_in, n = 1L, warn = FALSE)
    if (length(line) == 0L) break
    if (field(line, "op") != "execute") next
    marker <- gsub("\\u001e", "\036", field(line, "marker"), fixed = TRUE)
    outcome <- run(from_base64(field(line, "code_b64")))
    flush(stdout())
    cat(marker)
    flush(stdout())
    cat(marker, file = stderr())
    send(sprintf('{"op":"done","id":"%s","status":"%s","ename":%s,"evalue":%s}',
                 json_string(field(line, "id")), outcome$status,
                 if (is.null(outcome$ename)) "null" else paste0('"', json_string(outcome$ename), '"'),
                 if (is.null(outcome$evalue)) "null" else paste0('"', json_string(outcome$evalue), '"')))
  }
})
