"""The gateway's features, one folder per OCPP 1.6 functional block. Each exports `FEATURE`
(`core.feature.Feature`): what it adds to the core. Features never import each other;
`app.py` puts them together."""
