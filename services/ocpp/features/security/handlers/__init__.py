"""One module per security-extension action a station sends."""
