// Connect to Embedenv WebSocket Engine
const ws = new WebSocket('wss://embedenv.com/ws');

ws.onopen = () => {
  console.log('Connected to Embedenv');
  ws.send(JSON.stringify({
    action: 'execute',
    language: 'python',
    code: 'print("Hello from WebSocket!")',
    api_key: 'your-api-key'
  }));
};

ws.onmessage = (event) => {
  const data = JSON.parse(event.data);
  console.log('stdout:', data.stdout);
  console.log('time:', data.execution_time);
};
