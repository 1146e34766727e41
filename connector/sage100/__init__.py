"""Everything the connector needs from Sage 100: gateway, transports, account mask, errors."""
