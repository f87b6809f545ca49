SELECT 'Hello from Runnel!' AS greeting;
