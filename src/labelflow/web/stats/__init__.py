"""« État du réseau »: the network's figures, as JSON and as a page with its charts."""
