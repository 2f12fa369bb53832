"""The DataTransfer a station sends."""
