const greeting: string = "Hello from Runnel!";
console.log(greeting);
