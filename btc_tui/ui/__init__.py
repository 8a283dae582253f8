"""The Textual app: thin; renders domain events and starts workers."""
