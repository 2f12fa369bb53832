"""One module per OCPP 1.6 action a station sends; `router.ROUTES` lists them."""
