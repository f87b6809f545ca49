% Runnel's session driver for Prolog on SWI-Prolog (crates/languages/src/repl.rs describes the
% protocol). It runs as `swipl ... -g runnel_session:main -t halt`, so the interactive toplevel
% never starts and nothing but the user's code reads stdin.
%
% A cell is read term by term into `user`: clauses are added (a predicate the cell defines
% replaces its definition from earlier cells; within the cell its clauses accumulate), and
% directives (`:- Goal.` or `?- Goal.`) run when they are reached, as when a file loads.
% `:- initialization(G)` and `:- initialization(G, main)` run G once the cell's clauses are in
% (and do not halt). An exception, a failed directive or a syntax error ends its cell only,
% reported on stderr as SWI-Prolog reports it, and as "error_kind: message". SIGINT raises
% an exception in the running goal, which ends the cell as KeyboardInterrupt. Reading
% user_input takes what the client sent to stdin, or else asks the host (input_request).
:- module(runnel_session, []).  % nothing exported: `user` is the user's
:- use_module(library(http/json)).
:- use_module(library(prolog_stream)).

:- initialization(delete_self).

delete_self :-
    catch(delete_file('.runnel-session.pl'), _, true).

%   Only a running cell is interrupted: between cells (in this driver's own code) SIGINT is
%   ignored.
runnel_interrupt(_Signal) :-
    (   nb_current(runnel_running, true)
    ->  throw(runnel_keyboard_interrupt)
    ;   true
    ).

main :-
    nb_setval(runnel_running, false),
    on_signal(int, _, runnel_session:runnel_interrupt),
    set_stream(user_output, encoding(utf8)),
    set_stream(user_error, encoding(utf8)),
    open('/proc/self/fd/3', read, In, [encoding(utf8), bom(false)]),
    open('/proc/self/fd/4', write, Out, [encoding(utf8)]),
    nb_setval(runnel_control, In-Out),
    nb_setval(runnel_input_marker, ""),
    % user_input (and current input) become a stream that answers from stdin when the client
    % sent something, and asks the host otherwise.
    stream_property(Stdin, alias(user_input)),
    set_stream(Stdin, alias(runnel_stdin)),
    open_prolog_stream(runnel_session, read, Asking, []),
    set_stream(Asking, alias(user_input)),
    set_input(Asking),
    send(Out, _{op:"ready"}),
    loop(In, Out).

%   The reading end of user_input (library(prolog_stream)).
stream_read(_Stream, Data) :-
    stream_property(Stdin, alias(runnel_stdin)),
    (   wait_for_input([Stdin], [_], 0),
        fill_buffer(Stdin),
        read_pending_codes(Stdin, Codes, []),
        Codes \== []
    ->  string_codes(Data, Codes)
    ;   ask(Data)
    ).

stream_close(_Stream).

ask(Data) :-
    nb_getval(runnel_control, In-Out),
    nb_getval(runnel_input_marker, Marker),
    flush_output(user_output),
    flush_output(user_error),
    format(user_output, "~s", [Marker]),
    flush_output(user_output),
    format(user_error, "~s", [Marker]),
    flush_output(user_error),
    send(Out, _{op:"input_request", prompt:"", password:false}),
    reply(In, Data).

reply(In, Data) :-
    read_line_to_string(In, Line),
    (   Line == end_of_file
    ->  Data = end_of_file
    ;   catch(atom_json_dict(Line, Message, []), _, Message = _{}),
        (   get_dict(op, Message, "input_reply")
        ->  get_dict(value, Message, Value),
            string_concat(Value, "\n", Data)
        ;   reply(In, Data)
        )
    ).

send(Out, Dict) :-
    with_output_to(string(Text), json_write_dict(current_output, Dict, [width(0)])),
    format(Out, "~s~n", [Text]),
    flush_output(Out).

loop(In, Out) :-
    catch(read_line_to_string(In, Line), runnel_keyboard_interrupt, Line = ""),
    (   Line == end_of_file
    ->  halt(0)
    ;   catch(atom_json_dict(Line, Message, []), _, Message = _{}),
        (   get_dict(op, Message, "execute")
        ->  execute(Out, Message)
        ;   true
        ),
        loop(In, Out)
    ).

execute(Out, Message) :-
    get_dict(code, Message, Code),
    (   get_dict(input_marker, Message, InputMarker)
    ->  nb_setval(runnel_input_marker, InputMarker)
    ;   true
    ),
    nb_setval(runnel_running, true),
    catch(( run_cell(Code),
            nb_setval(runnel_running, false)
          ), Error, nb_setval(runnel_running, false)),
    (   var(Error)
    ->  Status = _{status:"ok"}
    ;   failure(Error, Name, Value),
        Status = _{status:"error", ename:Name, evalue:Value}
    ),
    get_dict(marker, Message, Marker),
    get_dict(id, Message, Id),
    catch(flush_output(user_output), _, true),
    format(user_output, "~s", [Marker]),
    flush_output(user_output),
    format(user_error, "~s", [Marker]),
    flush_output(user_error),
    put_dict(_{op:"done", id:Id}, Status, Done),
    send(Out, Done).

%!  failure(+Error, -Name, -Value) is det.
%   Reports Error on stderr (unless it was already) and names it.
failure(runnel_keyboard_interrupt, "KeyboardInterrupt", "") :- !,
    format(user_error, "% Execution Aborted~n", []).
failure(runnel_reported(Name, Value), Name, Value) :- !.
failure(Error, Name, Value) :-
    print_message(error, Error),
    error_name(Error, Name),
    message_to_codes(Error, Value).

error_name(error(Formal, _), Name) :- !,
    (   compound(Formal) -> compound_name_arity(Formal, Functor, _) ; Functor = Formal ),
    atom_string(Functor, Name).
error_name(Error, Name) :-
    (   compound(Error) -> compound_name_arity(Error, Functor, _) ; Functor = Error ),
    format(string(Name), "~w", [Functor]).

message_to_codes(Error, Value) :-
    (   catch(message_to_codes_(Error, Codes), _, fail)
    ->  string_codes(Value0, Codes),
        split_string(Value0, "\n", " ", [Value|_])
    ;   format(string(Value), "~q", [Error])
    ).

message_to_codes_(Error, Codes) :-
    '$messages':translate_message(Error, Lines, []),
    with_output_to(codes(Codes), print_message_lines(current_output, '', Lines)).

run_cell(Code) :-
    setup_call_cleanup(
        open_string(Code, Stream),
        read_cell(Stream, [], _Defined, [], Later),
        close(Stream)),
    forall(member(Goal, Later), run_goal(Goal)).

%   read_cell(+Stream, +DefinedSoFar, -Defined, +InitsSoFar, -Inits)
read_cell(Stream, Defined0, Defined, Later0, Later) :-
    catch(read_term(Stream, Term, [variable_names(_), syntax_errors(error), module(user)]),
          error(syntax_error(What), Context),
          throw(error(syntax_error(What), Context))),
    (   Term == end_of_file
    ->  Defined = Defined0,
        reverse(Later0, Later)
    ;   term(Term, Defined0, Defined1, Later0, Later1),
        read_cell(Stream, Defined1, Defined, Later1, Later)
    ).

term((:- initialization(Goal)), D, D, L, [Goal|L]) :- !.
term((:- initialization(Goal, _When)), D, D, L, [Goal|L]) :- !.
term((:- Goal), D, D, L, L) :- !, run_goal(Goal).
term((?- Goal), D, D, L, L) :- !, run_goal(Goal).
term(Term, Defined0, Defined, L, L) :-
    expand_term(Term, Expanded),
    (   is_list(Expanded) -> Clauses = Expanded ; Clauses = [Expanded] ),
    foldl(add_clause, Clauses, Defined0, Defined).

add_clause((:- Goal), Defined, Defined) :- !, run_goal(Goal).
add_clause(Clause, Defined0, Defined) :-
    (   Clause = (Head :- _) -> true ; Head = Clause ),
    (   callable(Head) -> true ; throw(error(type_error(callable, Head), _)) ),
    functor(Head, Name, Arity),
    (   memberchk(Name/Arity, Defined0)
    ->  Defined = Defined0
    ;   functor(Pattern, Name, Arity),
        % Without autoloading, a library predicate of that name (main/0 of library(main))
        % is not imported into `user` by the check: the user's own definition wins.
        current_prolog_flag(autoload, Autoload),
        setup_call_cleanup(
            set_prolog_flag(autoload, false),
            (   predicate_property(user:Pattern, defined),
                \+ predicate_property(user:Pattern, built_in),
                \+ predicate_property(user:Pattern, imported_from(_))
            ->  abolish_user(Name/Arity)
            ;   true
            ),
            set_prolog_flag(autoload, Autoload)),
        user:dynamic(Name/Arity),
        Defined = [Name/Arity|Defined0]
    ),
    assertz(user:Clause).

abolish_user(Name/Arity) :-
    functor(Pattern, Name, Arity),
    (   predicate_property(user:Pattern, dynamic)
    ->  retractall(user:Pattern)
    ;   abolish(user:Name/Arity)
    ).

run_goal(Goal) :-
    (   catch(user:Goal, Error, true)
    ->  (   var(Error)
        ->  true
        ;   throw(Error)
        )
    ;   print_message(warning, goal_failed(directive, user:Goal)),
        throw(runnel_reported("goal_failed", "the goal failed"))
    ).
