BEGIN { print "Hello from Runnel!" }
