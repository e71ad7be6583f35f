"""Network start: links, DHCPv4, static ip=, routes and DNS."""
