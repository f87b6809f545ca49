main(_) ->
    io:format("Hello from Runnel!~n").
