let () = print_endline "Hello from Runnel!"
