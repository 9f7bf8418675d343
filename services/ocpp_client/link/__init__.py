"""The CSMS link: OCPP-J framing (ocpp_j), RPC with CALL/CALLRESULT/CALLERROR matching (rpc, rpc_errors),
payload validation against the OCPP 2.0.1 JSON schemas (payload_schema), the WebSocket connection with
reconnect back-off (connection, connection_settings), security profiles 1-3: Basic auth and TLS
(security_profile), the durable outbound queue (queue), the OCPP message log (message_log), the assembly of
all of it from the station config and the device model (csms_link), and the registration gate every CSMS
CALL passes in both directions (gate: B03.FR.08, B02.FR.08).
"""
