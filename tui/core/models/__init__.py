"""Models on the Hub and on this machine: listing, downloads, the GGUF files here, their headers, and
whether a file fits this machine."""
