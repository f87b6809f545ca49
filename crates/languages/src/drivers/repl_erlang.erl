%% Runnel's session driver for Erlang and Elixir (crates/languages/src/repl.rs describes the
%% protocol). The host sends the code base64-encoded (`code_b64`): OTP 25 has no JSON.
%%
%% Erlang: each cell is split into dot-terminated forms. A function definition joins the
%% session's module `runnel_user` (recompiled with every function defined so far, so functions
%% call each other and a later definition replaces an earlier one); anything else is an
%% expression sequence evaluated by erl_eval with the session's bindings, local calls going to
%% `runnel_user`. Elixir: the cell is evaluated by Code.eval_quoted_with_env, keeping the
%% binding and the environment (imports, aliases). Either way state persists from cell to cell.
%%
%% A cell runs in a process of its own whose group leader is this driver: an exception ends its
%% cell only (reported on stderr as the shell would, and as "Class: reason" or, in Elixir, as
%% "Exception: message"); io:get_line, IO.gets and friends take a line the client already sent
%% to stdin, or else ask the host with an input request. SIGINT, forwarded as SIGUSR2 by the
%% shell wrapper of the language file (BEAM itself ignores SIGINT), kills the running cell.
-module(runnel_session).
-export([main/1]).
-export([init/1, handle_event/2, handle_call/2, handle_info/2, terminate/2, code_change/3]).

-record(st, {language, control, stdin, pending = <<>>, buffer = <<>>, eof = false, state,
             cell = none, id = <<>>, marker = <<>>, input_marker = <<>>,
             waiting = none, interrupted = false, binary = false}).

%% main(erlang) or main(elixir), from the driver's file.
main(Language) ->
    _ = file:delete(".runnel-session.erl"),
    _ = io:setopts(user, [{encoding, unicode}]),
    ok = os:set_signal(sigusr2, handle),
    ok = gen_event:add_handler(erl_signal_server, ?MODULE, self()),
    Control = open_port({fd, 3, 4}, [binary, {line, 65536}, eof]),
    Stdin = open_port({fd, 0, 1}, [binary, in, eof]),
    port_command(Control, <<"{\"op\":\"ready\"}\n">>),
    State = case Language of
                erlang -> {[], []};
                elixir -> {[], 'Elixir.Code':env_for_eval([{file, <<"cell">>}])}
            end,
    %% Elixir's own standard_io returns input as binaries (strings), Erlang's as lists.
    loop(#st{language = Language, control = Control, stdin = Stdin, state = State,
             binary = Language =:= elixir}).

%% The signal handler (gen_event callbacks, in erl_signal_server): SIGUSR2 interrupts.
init(Driver) -> {ok, Driver}.
handle_event(sigusr2, Driver) -> Driver ! interrupt, {ok, Driver};
handle_event(_, Driver) -> {ok, Driver}.
handle_call(_, Driver) -> {ok, ok, Driver}.
handle_info(_, Driver) -> {ok, Driver}.
terminate(_, _) -> ok.
code_change(_, Driver, _) -> {ok, Driver}.

loop(St = #st{control = Control, stdin = Stdin}) ->
    receive
        {Control, {data, {noeol, Part}}} ->
            loop(St#st{pending = <<(St#st.pending)/binary, Part/binary>>});
        {Control, {data, {eol, Part}}} ->
            Line = <<(St#st.pending)/binary, Part/binary>>,
            loop(message(Line, St#st{pending = <<>>}));
        {Control, eof} ->
            halt(0);
        {Stdin, {data, Data}} ->
            loop(answer(St#st{buffer = <<(St#st.buffer)/binary, Data/binary>>}));
        {Stdin, eof} ->
            loop(answer(St#st{eof = true}));
        {io_request, From, ReplyAs, Request} ->
            loop(io_request(From, ReplyAs, Request, St));
        interrupt when St#st.cell =/= none ->
            {Pid, _} = St#st.cell,
            exit(Pid, kill),
            loop(St#st{interrupted = true});
        interrupt ->
            loop(St);
        {cell_done, Pid, State, Failure} when St#st.cell =/= none,
                                              element(1, St#st.cell) =:= Pid ->
            erlang:demonitor(element(2, St#st.cell), [flush]),
            loop(finish(Failure, St#st{state = State}));
        {'DOWN', Ref, process, Pid, Reason} when St#st.cell =:= {Pid, Ref} ->
            Failure = case St#st.interrupted of
                          true ->
                              io:put_chars(standard_error, <<"** interrupted\n">>),
                              {<<"KeyboardInterrupt">>, <<>>};
                          false ->
                              {<<"exit">>, format_term(Reason)}
                      end,
            loop(finish(Failure, St));
        _ ->
            loop(St)
    end.

message(Line, St) ->
    case field(Line, <<"op">>) of
        <<"execute">> when St#st.cell =:= none ->
            Code = base64:decode(field(Line, <<"code_b64">>)),
            Driver = self(),
            #st{language = Language, state = State} = St,
            Pid = spawn(fun() -> run_cell(Driver, Language, Code, State) end),
            group_leader(self(), Pid),
            Ref = erlang:monitor(process, Pid),
            St#st{cell = {Pid, Ref}, id = field(Line, <<"id">>), marker = field(Line, <<"marker">>),
                  input_marker = field(Line, <<"input_marker">>), interrupted = false};
        <<"input_reply">> ->
            Value = field(Line, <<"value">>),
            answer(St#st{buffer = <<(St#st.buffer)/binary, Value/binary, "\n">>});
        _ ->
            St
    end.

finish(Failure, St = #st{control = Control}) ->
    flush_streams(St#st.marker),
    Status = case Failure of
                 none -> <<"\"status\":\"ok\"">>;
                 {Name, Value} ->
                     <<"\"status\":\"error\",\"ename\":", (json(Name))/binary,
                       ",\"evalue\":", (json(Value))/binary>>
             end,
    port_command(Control, <<"{\"op\":\"done\",\"id\":", (json(St#st.id))/binary, ",",
                            Status/binary, "}\n">>),
    St#st{cell = none, waiting = none, interrupted = false}.

%% Output reaches stdout and stderr through the io servers of BEAM, which answer each request
%% once its data went out: the marker written after the cell's output comes after it.
flush_streams(Marker) ->
    io:put_chars(user, Marker),
    io:put_chars(standard_error, Marker).

%% ---- the cell ----

run_cell(Driver, erlang, Code, {Bindings, Functions}) ->
    Outcome = try run_forms(forms(Code), Bindings, Functions) of
                  {ok, NewBindings, NewFunctions} -> {NewBindings, NewFunctions, none}
              catch
                  throw:{cell_failed, KeptBindings, KeptFunctions, Name, Value} ->
                      {KeptBindings, KeptFunctions, {Name, Value}};
                  Class:Reason:Stack ->
                      report(Class, Reason, Stack),
                      {Bindings, Functions, {atom_to_binary(Class), format_term(Reason)}}
              end,
    {FinalBindings, FinalFunctions, Failure} = Outcome,
    Driver ! {cell_done, self(), {FinalBindings, FinalFunctions}, Failure};
%% Elixir: the whole cell is one quoted block, evaluated with the session's binding and
%% environment (imports, aliases and requires persist; modules are global anyway).
run_cell(Driver, elixir, Code, {Binding, Env} = State) ->
    Outcome = try
                  Quoted = 'Elixir.Code':'string_to_quoted!'(Code, [{file, <<"cell">>}]),
                  {_, NewBinding, NewEnv} =
                      'Elixir.Code':eval_quoted_with_env(Quoted, Binding, Env),
                  {{NewBinding, NewEnv}, none}
              catch
                  Class:Reason:Stack -> {State, elixir_failure(Class, Reason, Stack)}
              end,
    {FinalState, Failure} = Outcome,
    Driver ! {cell_done, self(), FinalState, Failure}.

elixir_failure(Class, Reason, Stack) ->
    Kept = [Frame || Frame <- Stack, not driver_frame(element(1, Frame))],
    Normal = 'Elixir.Exception':normalize(Class, Reason, Kept),
    Text = 'Elixir.Exception':format(Class, Normal, Kept),
    io:put_chars(standard_error, [string:trim(Text, trailing), "\n"]),
    case Class of
        error ->
            Name = 'Elixir.Kernel':inspect(maps:get('__struct__', Normal)),
            {Name, 'Elixir.Exception':message(Normal)};
        _ ->
            {atom_to_binary(Class), 'Elixir.Kernel':inspect(Reason)}
    end.

driver_frame(Module) ->
    Name = atom_to_binary(Module),
    lists:member(Module, [?MODULE, erl_eval, 'Elixir.Code', 'Elixir.Module.ParallelChecker'])
        orelse binary:match(Name, <<"elixir">>) =:= {0, 6}.

%% The cell's tokens, one list per dot-terminated form; a last form without its dot gets one.
forms(Code) ->
    case erl_scan:string(unicode:characters_to_list(Code), 1) of
        {ok, Tokens, End} -> split(Tokens, End, [], []);
        {error, Info, _} -> [{error, Info}]
    end.

split([], _End, [], Forms) -> lists:reverse(Forms);
split([], End, Current, Forms) -> lists:reverse([lists:reverse([{dot, End} | Current]) | Forms]);
split([{dot, _} = Dot | Rest], End, Current, Forms) ->
    split(Rest, End, [], [lists:reverse([Dot | Current]) | Forms]);
split([Token | Rest], End, Current, Forms) -> split(Rest, End, [Token | Current], Forms).

run_forms([], Bindings, Functions) ->
    {ok, Bindings, Functions};
run_forms([{error, Info} | _], Bindings, Functions) ->
    failed(Info, Bindings, Functions);
run_forms([Tokens | Rest], Bindings, Functions) ->
    case form_kind(Tokens) of
        function ->
            case erl_parse:parse_form(Tokens) of
                {ok, {function, _, Name, Arity, _} = Form} ->
                    Kept = [F || {function, _, N, A, _} = F <- Functions, {N, A} =/= {Name, Arity}],
                    NewFunctions = Kept ++ [Form],
                    load_functions(NewFunctions, Bindings, Functions),
                    run_forms(Rest, Bindings, NewFunctions);
                {error, Info} ->
                    failed(Info, Bindings, Functions)
            end;
        attribute ->
            run_forms(Rest, Bindings, Functions);
        expression ->
            case erl_parse:parse_exprs(Tokens) of
                {ok, Exprs} ->
                    Local = {value, fun(Name, Args) -> local_call(Name, Args, Functions) end},
                    NewBindings = try erl_eval:exprs(Exprs, Bindings, Local) of
                                      {value, _Value, B} -> B
                                  catch
                                      Class:Reason:Stack ->
                                          report(Class, Reason, Stack),
                                          throw({cell_failed, Bindings, Functions,
                                                 atom_to_binary(Class), format_term(Reason)})
                                  end,
                    run_forms(Rest, NewBindings, Functions);
                {error, Info} ->
                    failed(Info, Bindings, Functions)
            end
    end.

%% `name(...) -> ...` is a function definition; `-something(...)` an attribute (the module and
%% export lines of a program pasted in are accepted and ignored).
form_kind([{'-', _}, {atom, _, _} | _]) -> attribute;
form_kind([{atom, _, _}, {'(', _} | Rest]) ->
    case after_arguments(Rest, 1) of
        [{'->', _} | _] -> function;
        [{'when', _} | _] -> function;
        _ -> expression
    end;
form_kind(_) -> expression.

after_arguments([], _) -> [];
after_arguments([{')', _} | Rest], 1) -> Rest;
after_arguments([{Open, _} | Rest], Depth) when Open =:= '('; Open =:= '['; Open =:= '{' ->
    after_arguments(Rest, Depth + 1);
after_arguments([{Close, _} | Rest], Depth) when Close =:= ')'; Close =:= ']'; Close =:= '}' ->
    after_arguments(Rest, Depth - 1);
after_arguments([_ | Rest], Depth) ->
    after_arguments(Rest, Depth).

load_functions(Functions, Bindings, OldFunctions) ->
    Forms = [{attribute, 1, module, runnel_user},
             {attribute, 1, compile, [export_all, nowarn_export_all]} | Functions],
    case compile:forms(Forms, [binary, return_errors]) of
        {ok, runnel_user, Binary} ->
            _ = code:purge(runnel_user),
            {module, runnel_user} = code:load_binary(runnel_user, "cell", Binary),
            ok;
        {error, Errors, _Warnings} ->
            [io:put_chars(standard_error, [format_error(Info), "\n"])
             || {_File, Infos} <- Errors, Info <- Infos],
            throw({cell_failed, Bindings, OldFunctions, <<"error">>, <<"compile error">>})
    end.

local_call(Name, Args, Functions) ->
    Arity = length(Args),
    case [defined || {function, _, N, A, _} <- Functions, {N, A} =:= {Name, Arity}] of
        [] -> erlang:raise(error, undef, [{shell_default, Name, Args, []}]);
        _ -> apply(runnel_user, Name, Args)
    end.

failed(Info, Bindings, Functions) ->
    Text = format_error(Info),
    io:put_chars(standard_error, [Text, "\n"]),
    throw({cell_failed, Bindings, Functions, <<"SyntaxError">>,
           unicode:characters_to_binary(Text)}).

format_error({Location, Module, Descriptor}) ->
    Where = case Location of
                {Line, Column} -> io_lib:format("~w:~w: ", [Line, Column]);
                Line when is_integer(Line) -> io_lib:format("~w: ", [Line]);
                _ -> ""
            end,
    unicode:characters_to_binary([Where, Module:format_error(Descriptor)]).

report(Class, Reason, Stack) ->
    Trim = fun(Module, _, _) -> lists:member(Module, [erl_eval, ?MODULE]) end,
    Text = erl_error:format_exception(Class, Reason, Stack, #{stack_trim_fun => Trim}),
    io:put_chars(standard_error, ["** ", Text, "\n"]).

%% ---- input: the cell's io requests (this driver is its group leader) ----

io_request(From, ReplyAs, Request, St) ->
    case input_request(Request) of
        {input, Encoding, Prompt, Collect} ->
            answer(St#st{waiting = {From, ReplyAs, Encoding, Prompt, Collect, initial(Collect), false}});
        other ->
            {Reply, Binary} = output_request(Request, St#st.binary),
            From ! {io_reply, ReplyAs, Reply},
            St#st{binary = Binary}
    end.

%% Output goes to BEAM's own stdout server; the binary option (how input is returned) is this
%% server's own.
output_request({getopts}, Binary) ->
    {[{binary, Binary}, {encoding, unicode}], Binary};
output_request({setopts, Options}, Binary) ->
    {ok, lists:foldl(fun(binary, _) -> true;
                        ({binary, On}, _) -> On;
                        (list, _) -> false;
                        (_, Was) -> Was
                     end, Binary, Options)};
output_request(Request, Binary) ->
    {io:request(user, Request), Binary}.

%% {input, Encoding, Prompt, Collector}: io_lib's line and chars collectors (start state,
%% {stop, Result, Rest} when done), or a get_until's own function ([] state, {done, ...}).
input_request({get_line, Encoding, Prompt}) ->
    {input, Encoding, Prompt, {text, collect_line, []}};
input_request({get_line, Prompt}) ->
    {input, latin1, Prompt, {text, collect_line, []}};
input_request({get_chars, Encoding, Prompt, N}) ->
    {input, Encoding, Prompt, {text, collect_chars, N}};
input_request({get_chars, Prompt, N}) ->
    {input, latin1, Prompt, {text, collect_chars, N}};
input_request({get_until, Encoding, Prompt, M, F, As}) when is_atom(Encoding) ->
    {input, Encoding, Prompt, {until, M, F, As}};
input_request({get_until, Prompt, M, F, As}) ->
    {input, latin1, Prompt, {until, M, F, As}};
input_request(_) ->
    other.

%% Answer the waiting input request from what stdin holds once it has a whole line (or ended);
%% with nothing there, ask the host once and wait for its reply.
answer(St = #st{waiting = none}) ->
    St;
answer(St = #st{waiting = {From, ReplyAs, Encoding, Prompt, Collect, Continuation, Asked}}) ->
    Ready = St#st.eof orelse binary:match(St#st.buffer, <<"\n">>) =/= nomatch,
    if
        Ready ->
            if not Asked -> io:put_chars(user, prompt_text(Prompt)); true -> ok end,
            case collect(St#st.buffer, St#st.eof, Encoding, Collect, St#st.binary, Continuation) of
                {done, Result, Rest} ->
                    From ! {io_reply, ReplyAs, Result},
                    St#st{buffer = Rest, waiting = none};
                {more, More} ->
                    answer(St#st{buffer = <<>>,
                                 waiting = {From, ReplyAs, Encoding, Prompt, Collect, More, true},
                                 eof = St#st.eof})
            end;
        Asked ->
            St;
        true ->
            ask(Prompt, St),
            St#st{waiting = {From, ReplyAs, Encoding, Prompt, Collect, Continuation, true}}
    end.

ask(Prompt, St = #st{control = Control}) ->
    flush_streams(St#st.input_marker),
    port_command(Control, <<"{\"op\":\"input_request\",\"prompt\":",
                            (json(prompt_text(Prompt)))/binary, ",\"password\":false}\n">>).

prompt_text('') -> <<>>;
prompt_text(Prompt) when is_atom(Prompt) -> atom_to_binary(Prompt);
prompt_text({format, Format, Args}) -> unicode:characters_to_binary(io_lib:format(Format, Args));
prompt_text(Prompt) ->
    case unicode:characters_to_binary(Prompt) of
        Binary when is_binary(Binary) -> Binary;
        _ -> unicode:characters_to_binary(io_lib:format("~tp", [Prompt]))
    end.

initial({text, _, _}) -> start;
initial({until, _, _, _}) -> [].

%% Feed whole lines of the buffer to the request's collector until it is done; {more, State}
%% when it needs more lines than there are.
collect(Buffer, Eof, Encoding, Collect, Binary, State) ->
    {Data, Rest} = case binary:match(Buffer, <<"\n">>) of
                       {At, 1} -> split_binary(Buffer, At + 1);
                       nomatch when Buffer =:= <<>> -> {eof, <<>>};
                       nomatch -> {Buffer, <<>>}
                   end,
    Chars = case Data of
                eof -> eof;
                _ when Encoding =:= unicode -> unicode:characters_to_list(Data);
                _ -> binary_to_list(Data)
            end,
    Step = case Collect of
               {text, Function, N} -> io_lib:Function(State, Chars, Encoding, N);
               {until, M, F, As} -> apply(M, F, [State, Chars | As])
           end,
    case Step of
        {Done, Result, Left} when Done =:= stop; Done =:= done ->
            Unused = case Left of
                         eof -> <<>>;
                         _ when Encoding =:= unicode -> unicode:characters_to_binary(Left);
                         _ -> list_to_binary(Left)
                     end,
            {done, result(Result, Collect, Binary, Encoding), <<Unused/binary, Rest/binary>>};
        _ when Chars =:= eof ->
            {done, eof, <<>>};
        More ->
            Next = case More of
                       {more, Continuation} when element(1, Collect) =:= until -> Continuation;
                       _ -> More
                   end,
            case Rest of
                <<>> when not Eof -> {more, Next};
                _ -> collect(Rest, Eof, Encoding, Collect, Binary, Next)
            end
    end.

result(Result, {text, _, _}, true, unicode) when is_list(Result) ->
    unicode:characters_to_binary(Result);
result(Result, {text, _, _}, true, _) when is_list(Result) -> list_to_binary(Result);
result(Result, _, _, _) -> Result.

%% ---- JSON, as much as the protocol needs ----

field(Line, Name) ->
    Pattern = <<"\"", Name/binary, "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"">>,
    case re:run(Line, Pattern, [{capture, [1], binary}]) of
        {match, [Value]} -> unescape(Value, <<>>);
        nomatch -> <<>>
    end.

unescape(<<>>, Acc) -> Acc;
unescape(<<"\\u", A, B, C, D, "\\u", E, F, G, H, Rest/binary>>, Acc)
  when A =:= $d orelse A =:= $D ->
    High = list_to_integer([A, B, C, D], 16),
    Low = list_to_integer([E, F, G, H], 16),
    Code = 16#10000 + ((High - 16#D800) bsl 10) + (Low - 16#DC00),
    unescape(Rest, <<Acc/binary, Code/utf8>>);
unescape(<<"\\u", A, B, C, D, Rest/binary>>, Acc) ->
    Code = list_to_integer([A, B, C, D], 16),
    unescape(Rest, <<Acc/binary, Code/utf8>>);
unescape(<<"\\n", Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, "\n">>);
unescape(<<"\\r", Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, "\r">>);
unescape(<<"\\t", Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, "\t">>);
unescape(<<"\\b", Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, "\b">>);
unescape(<<"\\f", Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, "\f">>);
unescape(<<"\\", C, Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, C>>);
unescape(<<C, Rest/binary>>, Acc) -> unescape(Rest, <<Acc/binary, C>>).

json(Text) ->
    Escaped = << <<(escape(C))/binary>> || <<C>> <= Text >>,
    <<"\"", Escaped/binary, "\"">>.

escape($") -> <<"\\\"">>;
escape($\\) -> <<"\\\\">>;
escape($\n) -> <<"\\n">>;
escape(C) when C < 32 -> <<" ">>;
escape(C) -> <<C>>.

format_term(Term) ->
    unicode:characters_to_binary(io_lib:format("~0tp", [Term])).
