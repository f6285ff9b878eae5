//! Network front end: the Gremlin Server WebSocket protocol and the admin HTTP port.
