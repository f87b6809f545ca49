(* Runnel's session driver for OCaml (crates/languages/src/repl.rs describes the protocol). The
   driver runs in the `ocaml` toplevel and evaluates each cell's phrases there with
   Toploop.execute_phrase: values, functions, types and modules persist from cell to cell. An
   exception or a type error ends its cell only, reported on stderr as the toplevel would. The
   host sends the code base64-encoded (`code_b64`): OCaml has no JSON of its own. *)
#directory "+compiler-libs";;
#load "ocamlcommon.cma";;

let () =
  let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" in
  let from_base64 text =
    let out = Buffer.create (String.length text) in
    let bits = ref 0 and count = ref 0 in
    String.iter
      (fun c ->
        match String.index_opt alphabet c with
        | None -> ()
        | Some value ->
            bits := (!bits lsl 6) lor value;
            count := !count + 6;
            if !count >= 8 then begin
              count := !count - 8;
              Buffer.add_char out (Char.chr ((!bits lsr !count) land 255));
              bits := !bits land ((1 lsl !count) - 1)
            end)
      text;
    Buffer.contents out
  in
  let field line name =
    let key = "\"" ^ name ^ "\":" in
    let klen = String.length key and llen = String.length line in
    let rec find i =
      if i + klen > llen then None
      else if String.sub line i klen = key then Some (i + klen)
      else find (i + 1)
    in
    match find 0 with
    | None -> ""
    | Some start -> (
        match String.index_from_opt line start '"' with
        | None -> ""
        | Some opening -> (
            match String.index_from_opt line (opening + 1) '"' with
            | None -> ""
            | Some closing -> String.sub line (opening + 1) (closing - opening - 1)))
  in
  let replace_all text old replacement =
    let out = Buffer.create (String.length text) in
    let olen = String.length old in
    let i = ref 0 in
    while !i < String.length text do
      if !i + olen <= String.length text && String.sub text !i olen = old then begin
        Buffer.add_string out replacement;
        i := !i + olen
      end
      else begin
        Buffer.add_char out text.[!i];
        incr i
      end
    done;
    Buffer.contents out
  in
  let json_string text =
    let out = Buffer.create (String.length text + 2) in
    Buffer.add_char out '"';
    String.iter
      (function
        | '"' -> Buffer.add_string out "\\\""
        | '\\' -> Buffer.add_string out "\\\\"
        | '\n' -> Buffer.add_string out "\\n"
        | c when Char.code c < 32 -> Buffer.add_char out ' '
        | c -> Buffer.add_char out c)
      text;
    Buffer.add_char out '"';
    Buffer.contents out
  in
  (* SIGINT raises Sys.Break in the running cell only: one that lands while the driver reads
     the next cell or reports the last is dropped, so that a burst of them cannot end the
     session. The toplevel catches a Break raised in a phrase and reports it as an exception
     (execute_phrase is false), hence [interrupted]. *)
  let in_cell = ref false in
  let interrupted = ref false in
  Sys.set_signal Sys.sigint
    (Sys.Signal_handle
       (fun _ ->
         if !in_cell then begin
           interrupted := true;
           raise Sys.Break
         end));
  let run code =
    let lexbuf = Lexing.from_string code in
    Location.input_name := "//toplevel//";
    Location.input_lexbuf := Some lexbuf;
    interrupted := false;
    let failure =
      try
        in_cell := true;
        List.iter
          (fun phrase ->
            if not (Toploop.execute_phrase false Format.err_formatter phrase) then raise Exit)
          (!Toploop.parse_use_file lexbuf);
        in_cell := false;
        None
      with
      | Exit ->
          in_cell := false;
          if !interrupted then Some ("KeyboardInterrupt", "") else Some ("Exception", "")
      | Sys.Break ->
          in_cell := false;
          prerr_endline "Interrupted.";
          Some ("KeyboardInterrupt", "")
      | error ->
          in_cell := false;
          Location.report_exception Format.err_formatter error;
          Some ("Error", Printexc.to_string error)
    in
    Format.pp_print_flush Format.std_formatter ();
    Format.pp_print_flush Format.err_formatter ();
    failure
  in
  (try Sys.remove Sys.argv.(0) with Sys_error _ -> ());
  Toploop.initialize_toplevel_env ();
  let control_in = open_in_bin "/proc/self/fd/3" in
  let control_out = open_out_bin "/proc/self/fd/4" in
  let send text =
    output_string control_out text;
    output_char control_out '\n';
    flush control_out
  in
  send "{\"op\":\"ready\"}";
  try
    while true do
      let line = input_line control_in in
      if field line "op" = "execute" then begin
        let marker = replace_all (field line "marker") "\\u001e" "\030" in
        let failure = run (from_base64 (field line "code_b64")) in
        flush stdout;
        print_string marker;
        flush stdout;
        prerr_string marker;
        flush stderr;
        send
          (Printf.sprintf "{\"op\":\"done\",\"id\":%s,%s}" (json_string (field line "id"))
             (match failure with
             | None -> "\"status\":\"ok\""
             | Some (ename, evalue) ->
                 Printf.sprintf "\"status\":\"error\",\"ename\":%s,\"evalue\":%s"
                   (json_string ename) (json_string evalue)))
      end
    done
  with End_of_file -> ()
