(format t "Hello from Runnel!~%")
