"""A small Python client for the GoChat gateway protocol (docs/gateway.md), used by the tests
and the benchmark:

    client = await gateway.GatewayClient.connect("ws://127.0.0.1:8082/ws")
    ready = await client.identify(token)
    event = await client.wait_for("MESSAGE_CREATE")
    ...
    # after op 7 RECONNECT (client.reconnect_requested) or a dropped connection:
    client, replayed = await client.resume_elsewhere(url, token)

`seq` is the last sequence received (sent in heartbeats and RESUME); `gaps` counts sequence
jumps seen (a correct gateway never causes one); `close_code`/`close_reason` say why the
gateway closed (codes in gochat.ws.protocol.CloseCode, docs/gateway.md).
"""
