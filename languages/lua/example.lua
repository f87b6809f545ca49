print("Hello from Runnel!")
