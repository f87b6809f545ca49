console.log("Hello from Runnel!");
