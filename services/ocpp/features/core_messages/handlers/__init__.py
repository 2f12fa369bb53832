"""One module per Core profile action a station sends; the feature (`..`) lists them."""
