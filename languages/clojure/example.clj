(println "Hello from Runnel!")
