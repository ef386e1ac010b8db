"""The service layer: reacts to telephony events, asks the routing core, acts through adapters."""
