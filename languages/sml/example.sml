print "Hello from Runnel!\n";
