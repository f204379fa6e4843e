"""Web pages for the people who use the hub: server-rendered, Chinese first, little JavaScript."""
