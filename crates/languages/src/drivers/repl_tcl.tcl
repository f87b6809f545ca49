# Runnel's session driver for Tcl (crates/languages/src/repl.rs describes the protocol).
# Each cell is evaluated with `uplevel #0`, at global level: global variables, procs and
# namespaces persist from cell to cell. An error ends its cell only, with the error info on
# stderr. The host sends the code base64-encoded (`code_b64`): Tcl has no JSON of its own.
file delete -- [info script]
fconfigure stdout -buffering line -encoding utf-8
fconfigure stderr -buffering none -encoding utf-8

namespace eval ::runnel {
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
            if {[catch {uplevel #0 $code} result options] == 1} {
                set status error
                set ename [json [lindex [dict get $options -errorcode] 0]]
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
