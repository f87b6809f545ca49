echo "Hello from Runnel!"
