puts "Hello from Runnel!"
