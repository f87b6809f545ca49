println "Hello from Runnel!"
