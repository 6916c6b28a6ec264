"""Pure mappings of each platform's API objects to the event contracts, shared by every service."""
