.( Hello from Runnel!) CR
bye
