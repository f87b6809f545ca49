# pip install websockets
import asyncio
import websockets
import json

async def execute_code():
    uri = "wss://embedenv.com/ws"
    async with websockets.connect(uri) as ws:
        payload = {
            "action": "execute",
            "language": "python",
            "code": "print('Hello from WebSocket!')",
            "api_key": "your-api-key"
        }
        await ws.send(json.dumps(payload))
        result = json.loads(await ws.recv())
        print(f"stdout: {result['stdout']}")
        print(f"time: {result['execution_time']}ms")

asyncio.run(execute_code())
