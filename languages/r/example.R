cat("Hello from Runnel!\n")
