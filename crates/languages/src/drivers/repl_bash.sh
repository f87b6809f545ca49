# Runnel's session driver for Bash (crates/languages/src/repl.rs describes the protocol).
# Cells are sourced into this shell (at its top level, so even `declare` makes globals):
# variables, functions, aliases and the working directory persist. The host sends the code
# base64-encoded (`code_b64`), as JSON is not something bash parses.
#
# SIGINT ends the running cell: the trap marks the cell interrupted and installs a DEBUG trap
# that, under extdebug, makes every next command of the cell (in the sourced file or in a
# function it called) return, until the source returns to this loop. So a loop of builtins
# stops too, not only a foreground program (which the signal to the group ends anyway). A
# SIGINT between cells does nothing.
rm -f -- "$BASH_SOURCE"
__runnel_in_cell=
__runnel_interrupted=
__runnel_unwind() {
  [[ -n $__runnel_interrupted && " ${FUNCNAME[*]} " == *" source "* ]] && return 2
  return 0
}
__runnel_on_interrupt() {
  [[ -n $__runnel_in_cell ]] || return 0
  __runnel_interrupted=1
  shopt -s extdebug
  trap '__runnel_unwind' DEBUG
}
trap '__runnel_on_interrupt' INT
printf '{"op":"ready"}\n' >&4
while IFS= read -r __runnel_line <&3; do
  [[ $__runnel_line =~ \"op\":[[:space:]]*\"execute\" ]] || continue
  [[ $__runnel_line =~ \"id\":[[:space:]]*\"([^\"]*)\" ]] && __runnel_id=${BASH_REMATCH[1]}
  [[ $__runnel_line =~ \"marker\":[[:space:]]*\"([^\"]*)\" ]] && __runnel_marker=${BASH_REMATCH[1]//\\u001e/$'\x1e'}
  [[ $__runnel_line =~ \"code_b64\":[[:space:]]*\"([^\"]*)\" ]] && __runnel_code=${BASH_REMATCH[1]}
  __runnel_in_cell=1
  source <(printf '%s' "$__runnel_code" | /usr/bin/base64 -d) 3<&- 4>&-
  __runnel_status=$?
  __runnel_in_cell=
  if [[ -n $__runnel_interrupted ]]; then
    trap - DEBUG
    shopt -u extdebug
    __runnel_interrupted=
    __runnel_status=interrupted
  fi
  printf '%s' "$__runnel_marker"
  printf '%s' "$__runnel_marker" >&2
  if [ "$__runnel_status" = interrupted ]; then
    printf '{"op":"done","id":"%s","status":"error","ename":"KeyboardInterrupt","evalue":""}\n' \
      "$__runnel_id" >&4
  elif [ "$__runnel_status" -eq 0 ]; then
    printf '{"op":"done","id":"%s","status":"ok"}\n' "$__runnel_id" >&4
  else
    printf '{"op":"done","id":"%s","status":"error","ename":"ExitStatus","evalue":"%s"}\n' \
      "$__runnel_id" "$__runnel_status" >&4
  fi
done
