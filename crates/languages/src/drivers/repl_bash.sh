# Runnel's session driver for Bash (crates/languages/src/repl.rs describes the protocol).
# Cells run with `eval` in this shell, so variables, functions, aliases and the working
# directory persist. The host sends the code base64-encoded (`code_b64`), as JSON is not
# something bash parses.
rm -f -- "$BASH_SOURCE"
trap ':' INT
printf '{"op":"ready"}\n' >&4
while IFS= read -r __runnel_line <&3; do
  [[ $__runnel_line =~ \"op\":[[:space:]]*\"execute\" ]] || continue
  [[ $__runnel_line =~ \"id\":[[:space:]]*\"([^\"]*)\" ]] && __runnel_id=${BASH_REMATCH[1]}
  [[ $__runnel_line =~ \"marker\":[[:space:]]*\"([^\"]*)\" ]] && __runnel_marker=${BASH_REMATCH[1]//\\u001e/$'\x1e'}
  [[ $__runnel_line =~ \"code_b64\":[[:space:]]*\"([^\"]*)\" ]] && __runnel_code=${BASH_REMATCH[1]}
  eval "$(printf '%s' "$__runnel_code" | /usr/bin/base64 -d)" 3<&- 4>&-
  __runnel_status=$?
  printf '%s' "$__runnel_marker"
  printf '%s' "$__runnel_marker" >&2
  if [ "$__runnel_status" -eq 0 ]; then
    printf '{"op":"done","id":"%s","status":"ok"}\n' "$__runnel_id" >&4
  else
    printf '{"op":"done","id":"%s","status":"error","ename":"ExitStatus","evalue":"%s"}\n' \
      "$__runnel_id" "$__runnel_status" >&4
  fi
done
