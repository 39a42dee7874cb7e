//! Bedside's signaling: the WebSocket protocol, rooms per visit, relay of
//! WebRTC negotiation between participants, presence and the cross-node bus.
//! It knows nothing of the store: the server hands it an authoriser.
