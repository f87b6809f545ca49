:- initialization(main).
main :- write('Hello from Runnel!'), nl, halt.
