"""WebSocket closure: the registry of open sockets, closing them at shutdown, the transport
details of each server, and the system checks of the websocket settings."""
