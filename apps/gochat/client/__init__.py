"""A small Python client for the GoChat gateway protocol (docs/gateway.md), used by the tests
and the benchmark:

    client = await gateway.GatewayClient.connect("ws://127.0.0.1:8082/ws")
    ready = await client.identify(token)
    event = await client.wait_for("MESSAGE_CREATE")
    ...
    again = await gateway.GatewayClient.connect(url)
    replayed = await again.resume(token, client.session_id, client.seq)
"""
