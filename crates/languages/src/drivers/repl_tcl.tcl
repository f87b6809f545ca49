# Runnel's session driver for Tcl (crates/languages/src/repl.rs describes the protocol).
# Each cell is evaluated with `uplevel #0`, at global level: global variables, procs and
# namespaces persist from cell to cell. An error ends its cell only, with the error info on
# stderr. SIGINT ends the running cell as KeyboardInterrupt; between cells it is ignored. The
# host sends the code base64-encoded (`code_b64`): Tcl has no JSON of its own.
file delete -- [info script]
fconfigure stdout -buffering line -encoding utf-8
fconfigure stderr -buffering none -encoding utf-8

namespace eval ::runnel {
    # tclsh has no signal handling of its own: TclX's `signal trap` (Debian `tclx8.4`) has the
    # C handler only count the signal and mark a Tcl async handler, and Tcl runs the trap at
    # its next safe point in the interpreter that is running, at global level: during a cell,
    # between the bytecodes of a busy loop or in `after ms`, so normal cells pay nothing. An
    # error from the trap replaces the result of the command it interrupted, so it unwinds the
    # cell like any error. When no interpreter is running (a cell waiting in the event loop:
    # `vwait`, `update`), TclX runs the trap in the first interpreter that loaded it, where an
    # error would only become a background error, so there the trap cancels the cell instead
    # (`interp cancel`, which vwait and update check after each event). TclX is loaded in a
    # child interpreter so its 140 commands stay out of the cells' global namespace; the trap
    # is the same command in both. -restart: the driver's own reads and writes are restarted,
    # not failed, by a SIGINT between cells.
    # Without TclX (not installed) the session works the same, but a SIGINT ends tclsh.
    variable armed 0
    interp create ::runnel::signals
    if {![catch {signals eval {package require Tclx}}]} {
        signals alias ::runnel::interrupt ::runnel::cancel
        signals eval {signal -restart trap SIGINT ::runnel::interrupt}
    }

    # One interrupt per cell, and only while the cell's code runs: the trap disarms itself,
    # so the rest of a burst, and any SIGINT while the driver reports or waits, does nothing.
    proc interrupt {} {
        variable armed
        if {$armed} {
            set armed 0
            return -code error -errorcode KeyboardInterrupt KeyboardInterrupt
        }
    }
    proc cancel {} {
        variable armed
        if {$armed} {
            set armed 0
            interp cancel -- {} KeyboardInterrupt
        }
    }
    proc field {line name} {
        if {[regexp "\"$name\":\\s*\"(\[^\"\]*)\"" $line -> value]} {
            return $value
        }
        return ""
    }
    proc json {value} {
        set value [string map [list \\ \\\\ \" \\\" \n \\n \r \\r \t \\t] $value]
        regsub -all {[\x00-\x1f]} $value " " value
        return "\"$value\""
    }
    proc serve {} {
        set in [open /proc/self/fd/3 r]
        fconfigure $in -translation lf -encoding utf-8
        set out [open /proc/self/fd/4 w]
        fconfigure $out -buffering line -translation lf -encoding utf-8
        puts $out {{"op":"ready"}}
        while {[gets $in line] >= 0} {
            if {[field $line op] ne "execute"} continue
            set id [field $line id]
            set marker [string map [list {\u001e} \x1e] [field $line marker]]
            set code [encoding convertfrom utf-8 [binary decode base64 [field $line code_b64]]]
            set status ok
            set ename null
            set evalue null
            # Arming and disarming both happen inside the catch (an error the trap raises in
            # `finally` replaces the cell's own), so an interrupt never escapes the cell.
            if {[catch {
                try {
                    variable armed 1
                    uplevel #0 $code
                } finally {
                    variable armed 0
                }
            } result options] == 1} {
                set status error
                set errorcode [dict get $options -errorcode]
                if {[lrange $errorcode 0 1] eq {TCL CANCEL}} {
                    set ename [json KeyboardInterrupt]
                } else {
                    set ename [json [lindex $errorcode 0]]
                }
                set evalue [json $result]
                puts stderr [dict get $options -errorinfo]
            }
            flush stdout
            puts -nonewline stdout $marker
            flush stdout
            puts -nonewline stderr $marker
            puts $out "{\"op\":\"done\",\"id\":[json $id],\"status\":\"$status\",\"ename\":$ename,\"evalue\":$evalue}"
        }
    }
}
::runnel::serve
