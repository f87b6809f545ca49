IO.puts("Hello from Runnel!")
