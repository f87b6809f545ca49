(display "Hello from Runnel!")
(newline)
